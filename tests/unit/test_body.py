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


def reasons(records: list) -> list[str | None]:  # type: ignore[type-arg]
    return [r.reason if r.error else None for r in records]


def test_a_utf8_bom_before_an_array_is_skipped() -> None:
    records = split_body(b'\xef\xbb\xbf[{"a": 1}, {"b": 2}]')
    assert [r.value for r in records] == [{"a": 1}, {"b": 2}]
    assert split_body(b'\xef\xbb\xbf{"a": 1}\n')[0].value == {"a": 1}


def test_array_items_keep_their_original_bytes() -> None:
    records = split_body(b'[ {"a" : 1} ,{"b":"x,]}"}]')
    assert [r.raw for r in records] == [b'{"a" : 1}', b'{"b":"x,]}"}']
    assert split_body(b"[]") == [] and split_body(b" [ ] ") == []


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"[" * 50_000 + b"]" * 50_000, "too_deep"),  # RecursionError in json
        (b'{"occurred_at": ' + b"9" * 5000 + b"}", "number_too_large"),  # int digit limit
        (b'{"occurred_at": NaN}', "malformed_json"),
        (b'{"x": -Infinity}', "malformed_json"),
        (b'{"event_id": "a", "event_id": "b"}', "duplicate_field"),
        (b'{"event_id": "\xff"}', "invalid_unicode"),
        (b'{"event_id": oops}', "malformed_json"),
    ],
)
def test_a_bad_item_is_its_own_error_in_arrays_and_ndjson(bad: bytes, reason: str) -> None:
    good = b'{"a": 1}'
    array = split_body(b"[" + good + b"," + bad + b"," + good + b"]")
    ndjson = split_body(good + b"\n" + bad + b"\n" + good + b"\n")
    for records in (array, ndjson):
        assert reasons(records) == [None, reason, None]
        assert [r.value for r in records] == [{"a": 1}, None, {"a": 1}]
        assert records[1].raw == bad and records[1].error


@pytest.mark.parametrize(
    "body", [b"[{", b'[{"a": "unterminated}]', b'[{"a": 1}}, {"b": 2}]', b"[1] [2]"]
)
def test_an_array_whose_extent_is_unclear_is_refused_as_a_whole(body: bytes) -> None:
    with pytest.raises(BodyError) as exc:
        split_body(body)
    assert exc.value.reason == "malformed_json"


def test_scanning_a_line_of_escaped_quotes_is_linear() -> None:
    # An unterminated string followed by escaped quotes: a scanner that tried each quote as
    # the start of a string would take minutes on this line.
    line = b'"' + b'\\"' * 200_000
    records = split_body(line + b"\n")
    assert reasons(records) == ["malformed_json"]
