from __future__ import annotations

import pytest

from streams.agents.ingestion.body import BodyError, split_body


def test_json_array_keeps_each_record() -> None:
    records = split_body(b'[{"a": 1}, {"b": 2}]')
    assert [r.value for r in records] == [{"a": 1}, {"b": 2}]


def test_ndjson_marks_bad_lines_without_losing_good_ones() -> None:
    records = split_body(b'{"a": 1}\nnot json\n\n{"b": 2}\n')
    assert [r.value for r in records] == [{"a": 1}, None, {"b": 2}]
    assert records[1].error and records[1].raw == b"not json"


@pytest.mark.parametrize("body", [b"", b"  ", b"[{"])
def test_unreadable_bodies_are_refused_as_a_whole(body: bytes) -> None:
    with pytest.raises(BodyError) as exc:
        split_body(body)
    assert exc.value.reason == "malformed_json"
