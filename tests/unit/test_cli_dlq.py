from __future__ import annotations

import json

import pytest

from streams.dead_letter import DeadLetter
from streams.kafka.reader import Record
from streams.tools.cli.dlq import (
    Letter,
    describe,
    dlq_order,
    hexdump,
    list_rows,
    parse_position,
    plan,
    select,
    summary,
)
from streams.tools.cli.main import parser

EVENTS = "t.shipments.events"
VALID = {
    "event_id": "e1",
    "shipment_id": "S1",
    "event_type": "CREATED",
    "occurred_at": "2026-11-25T10:00:00Z",
    "source": "warehouse",
}


def letter(
    partition: int,
    offset: int,
    *,
    source: str = EVENTS,
    value: bytes | None = b"\x00\x00\x00\x00\x01body",
    stage: str = "processing",
    reason: str = "not_avro",
    ts: int = 0,
    key: bytes | None = b"S1",
) -> Letter:
    dl = DeadLetter(key, value, stage, reason, "DecodeError", "bad bytes", source, 2, 40)
    if source.startswith(("http:", "file:")):
        dl = DeadLetter(key, value, stage, reason, "ValidationError", "bad", source, -1, 3)
    headers = {k: v for k, v in dl.headers()}
    return Letter(Record("t.shipments.dlq", partition, offset, key, value, headers, ts))


def test_position_argument() -> None:
    assert parse_position("3:17") == (3, 17)
    for bad in ("3", "a:1", "1:-2", ":"):
        with pytest.raises(ValueError, match="PARTITION:OFFSET"):
            parse_position(bad)
    assert parser().parse_args(["dlq", "show", "0:5"]).position == (0, 5)
    with pytest.raises(SystemExit):
        parser().parse_args(["dlq", "show", "five"])


def test_subcommand_arguments() -> None:
    a = parser().parse_args(["dlq", "redrive", "--stage", "processing", "--dry-run", "--to", "x"])
    assert (a.stage, a.reason, a.dry_run, a.to) == ("processing", None, True, "x")
    a = parser().parse_args(["dlq", "list", "--reason", "not_avro", "-n", "5"])
    assert (a.reason, a.n) == ("not_avro", 5)


def test_headers_are_read() -> None:
    x = letter(1, 9)
    assert (x.position, x.stage, x.reason, x.error_class, x.message) == (
        "1:9",
        "processing",
        "not_avro",
        "DecodeError",
        "bad bytes",
    )
    assert x.source == f"{EVENTS}[2]@40" and not x.from_ingestion
    http = letter(0, 1, source="http:/ingest", stage="ingestion")
    assert http.source == "http:/ingest#3" and http.from_ingestion
    rows = list_rows([x], {"1:9"})
    assert rows[0][:7] == [
        "1:9",
        "S1",
        "processing",
        "not_avro",
        "DecodeError",
        f"{EVENTS}[2]@40",
        "yes",
    ]


def test_filters() -> None:
    xs = [letter(0, 0), letter(0, 1, reason="unknown_schema_id"), letter(0, 2, stage="decision")]
    assert [x.position for x in select(xs, None, "not_avro")] == ["0:0", "0:2"]
    assert [x.position for x in select(xs, "processing", None)] == ["0:0", "0:1"]
    assert [x.position for x in select(xs, None, None)] == ["0:0", "0:1", "0:2"]


def test_order_keeps_each_partition_in_offset_order() -> None:
    # timestamps go backwards inside partition 0: its order must still win
    recs = [letter(0, 1, ts=5).record, letter(1, 0, ts=3).record, letter(0, 0, ts=9).record]
    assert [(r.partition, r.offset) for r in dlq_order(recs)] == [(1, 0), (0, 0), (0, 1)]


def test_plan_decides_per_letter() -> None:
    xs = [
        letter(0, 0),  # from a topic: bytes as they were
        letter(0, 1),  # already done
        letter(0, 2, source=""),  # no source header
        letter(0, 3, source="t.gone"),  # topic deleted since
        letter(0, 4, source="http:/ingest", value=json.dumps(VALID).encode(), key=None),
        letter(0, 5, source="file:x.jsonl", value=b'{"event_id": "e2"}', key=None),
        letter(0, 6, source="http:/ingest", value=b"{not json", key=None),
    ]
    steps = plan(xs, {"0:1"}, {EVENTS, "t.shipments.decisions"}, EVENTS)
    assert [(s.letter.position, s.action, s.target) for s in steps] == [
        ("0:0", "republish", EVENTS),
        ("0:1", "already", None),
        ("0:2", "skip", None),
        ("0:3", "skip", "t.gone"),
        ("0:4", "revalidated", EVENTS),
        ("0:5", "invalid", EVENTS),
        ("0:6", "invalid", EVENTS),
    ]
    assert steps[4].event.shipment_id == "S1"
    assert "missing_field" in steps[5].note and "not a JSON record" in steps[6].note
    assert summary(steps, dry_run=True) == (
        f"would redrive 2 (1 as they were, 1 revalidated; {EVENTS}=2); "
        "already redriven 1; still invalid 2; skipped 2"
    )
    moved = plan(xs[:1], set(), {EVENTS, "t.other"}, EVENTS, to="t.other")
    assert moved[0].target == "t.other"


def test_show_prints_text_or_hex() -> None:
    assert hexdump(b"AB\x00") == "00000000  41 42 00" + " " * 39 + "  AB."
    text = describe(letter(2, 7, value=b'{"a": 1}').record, None)
    assert "position   2:7" in text and "error.reason: not_avro" in text
    assert text.endswith('value      8 bytes, text\n{"a": 1}')
    binary = describe(letter(2, 8).record, '{"value": 1}')
    assert "9 bytes, binary\n00000000  00 00 00 00 01 62 6f 64 79" in binary
    assert binary.endswith('decoded\n{"value": 1}')
