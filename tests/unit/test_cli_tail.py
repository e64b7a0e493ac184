from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from streams.kafka.reader import Record
from streams.settings import Settings
from streams.tools.cli.main import parser
from streams.tools.cli.tail import (
    StartAt,
    parse_time,
    record_json,
    start_of,
    start_offsets,
)
from streams.tools.console import json_default
from streams.tools.records import ValueDecoder, raw_value
from streams.topics import DLQ, UPDATES

NOW = 1_795_600_000_000


def args(*argv: str) -> argparse.Namespace:
    return parser().parse_args(["tail", *argv])


def test_time_is_epoch_ms_iso_with_a_zone_or_relative() -> None:
    assert parse_time("1795600000000", NOW) == 1_795_600_000_000
    ten = int(datetime(2026, 11, 25, 10, tzinfo=UTC).timestamp() * 1000)
    assert parse_time("2026-11-25T10:00:00Z", NOW) == ten
    assert parse_time("2026-11-25T10:00:00.250Z", NOW) == ten + 250
    assert parse_time("2026-11-25T11:00:00+01:00", NOW) == parse_time("2026-11-25T10:00:00Z", NOW)
    assert parse_time("-15m", NOW) == NOW - 15 * 60_000
    assert parse_time("-2d", NOW) == NOW - 2 * 86_400_000


@pytest.mark.parametrize("text", ["2026-11-25T10:00:00", "2026-11-25", "yesterday", "-5w"])
def test_naive_or_unreadable_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="zone|not a time"):
        parse_time(text, NOW)


def test_arguments() -> None:
    a = args("events", "-f", "--key", "S1", "--partition", "2", "-n", "5")
    assert (a.topic, a.follow, a.key, a.partition, a.max) == ("events", True, "S1", 2, 5)
    assert args("dlq", "--from-time=-1h").from_time > 0
    for bad in (
        ["events", "--from-offset", "3", "--from-beginning"],
        ["events", "--from-time", "2026-11-25T10:00:00"],
        ["events", "--from-offset", "-1"],
        ["events", "-n", "0"],
    ):
        with pytest.raises(SystemExit):
            args(*bad)


def test_default_start_is_the_last_ten_and_follow_starts_at_the_end() -> None:
    assert start_of(args("events")) == StartAt("last", 10, keep_last=10)
    assert start_of(args("events", "-n", "3")) == StartAt("last", 3, keep_last=3)
    assert start_of(args("events", "-f")) == StartAt("end")
    assert start_of(args("events", "--key", "S1")) == StartAt("beginning", keep_last=10)
    assert start_of(args("events", "--from-offset", "7")) == StartAt("offset", 7)
    assert start_of(args("events", "--from-beginning", "-f")) == StartAt("beginning")


def test_start_offsets_stay_within_the_watermarks() -> None:
    marks = {0: (0, 25), 1: (20, 23), 2: (5, 5)}
    assert start_offsets(marks, StartAt("last", 10)) == {0: 15, 1: 20, 2: 5}
    assert start_offsets(marks, StartAt("beginning")) == {0: 0, 1: 20, 2: 5}
    assert start_offsets(marks, StartAt("end")) == {0: 25, 1: 23, 2: 5}
    assert start_offsets(marks, StartAt("offset", 22)) == {0: 22, 1: 22, 2: 5}
    by_time = {0: 12, 1: -1, 2: -1}
    assert start_offsets(marks, StartAt("time", NOW), by_time) == {0: 12, 1: 23, 2: 5}


def test_values_that_need_no_registry() -> None:
    s = Settings()
    raw = ValueDecoder(s, DLQ)
    assert raw.decode(None) == {"value": None, "format": "null"}
    assert raw.decode(b"hello") == {"value": "hello", "format": "text"}
    assert raw.decode(b'{"a": 1}') == {"value": {"a": 1}, "format": "json"}
    assert raw.decode(b"\xff\xfe") == {"value": "//4=", "format": "base64"}
    as_json = ValueDecoder(s, UPDATES)
    out = as_json.decode(b"{broken")
    assert out["format"] == "text" and "not JSON" in out["error"]
    assert raw_value(b"{not json") == {"value": "{not json", "format": "text"}


def test_record_line() -> None:
    rec = Record("t", 1, 7, b"\x00\x01", b"v", {"h": b"x", "b": b"\xff"}, 1_795_600_000_123)
    line = record_json(rec, {"value": "v", "format": "text"})
    assert line["key"] == {"base64": "AAE="}
    assert line["headers"] == {"h": "x", "b": {"base64": "/w=="}}
    assert line["time"] == "2026-11-25T09:46:40.123Z"
    assert (line["partition"], line["offset"], line["timestamp"]) == (1, 7, 1_795_600_000_123)
    assert json_default(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000Z"
