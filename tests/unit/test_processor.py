"""The processing role's per-record logic with a plain dict for the table: the crash paths."""

from __future__ import annotations

from typing import Any

import orjson

from streams.agents.processing.processor import (
    APPLIED_OFFSET,
    Processor,
    Stored,
    decode_state,
    decode_stored,
    encode_stored,
)
from streams.agents.processing.reducer import ShipmentState
from streams.model import EventType, ExceptionCode, Hub, ServiceLevel, ShipmentEvent

T0 = 1_767_225_600_000
H = 3_600_000
HUBS = {"AMS": Hub(code="AMS", region="NL", capacity_per_window=9, transit_hours={"NL": 10})}


def ev(n: int, t: EventType, at: int, **kw: Any) -> ShipmentEvent:
    return ShipmentEvent(
        event_id=f"e{n}", shipment_id="s", event_type=t, occurred_at=at, source="t", **kw
    )


EVENTS = [
    ev(0, EventType.CREATED, T0, destination="NL"),
    ev(1, EventType.ARRIVED_HUB, T0 + H, hub="AMS"),
    ev(2, EventType.DEPARTED_HUB, T0 + 2 * H, hub="AMS"),
]


def test_applied_events_get_consecutive_seqs_and_the_state_records_the_offset() -> None:
    table: dict[str, Any] = {}
    p = Processor(table, HUBS)
    handled = [p.handle(e, 100 + n, ingested_at=5) for n, e in enumerate(EVENTS)]
    assert [h.outcome for h in handled] == ["applied"] * 3
    assert [h.update.seq for h in handled if h.update] == [1, 2, 3]
    state = decode_state(encode_stored(table["s"]))
    assert state[APPLIED_OFFSET] == 102 and state["eta"] == T0 + 12 * H


def test_the_stored_value_decodes_back_to_itself() -> None:
    table: dict[str, Any] = {}
    p = Processor(table, HUBS)
    for n, e in enumerate(EVENTS):
        p.handle(e, 100 + n, ingested_at=5)
    assert decode_stored(encode_stored(table["s"])) == table["s"]


def test_a_duplicate_after_the_last_applied_offset_is_dropped() -> None:
    p = Processor({}, HUBS)
    for n, e in enumerate(EVENTS):
        p.handle(e, n, None)
    assert p.handle(EVENTS[1], 7, None).outcome == "duplicate"


def test_a_replay_with_the_state_ahead_resends_with_the_original_seq() -> None:
    # Crash: the local state kept offsets 0..2, the updates of 1 and 2 were lost with the
    # producer, the commit was at 1. The replay of 1 and 2 must forward seqs 2 and 3 again.
    table: dict[str, Any] = {}
    p = Processor(table, HUBS)
    for n, e in enumerate(EVENTS):
        p.handle(e, n, None)
    ahead = table["s"]
    again = [p.handle(e, n + 1, None) for n, e in enumerate(EVENTS[1:])]
    assert [(h.outcome, h.update.seq if h.update else None) for h in again] == [
        ("replayed", 2),
        ("replayed", 3),
    ]
    assert table["s"] == ahead  # written again, unchanged (its changelog record may be lost)


def test_a_replay_with_the_changelog_write_lost_applies_again_with_the_same_seq() -> None:
    table: dict[str, Any] = {}
    p = Processor(table, HUBS)
    p.handle(EVENTS[0], 0, None)
    before = dict(table)
    first = p.handle(EVENTS[1], 1, None)
    # The state write of offset 1 never reached the changelog; the next owner restores 'before'.
    other = Processor(before, HUBS)
    second = other.handle(EVENTS[1], 1, None)
    assert second.outcome == "applied" and second.update == first.update


def test_the_table_value_is_the_state_s_json_with_the_offset_that_made_it() -> None:
    # The value the changelogs already hold (and GET /shipments shows): written by msgspec
    # now, it must stay byte for byte what the dict of to_json() gave.
    table: dict[str, Any] = {}
    p = Processor(table, HUBS)
    events = [
        ev(0, EventType.CREATED, T0, destination="NL", carrier="dhl", promised_at=T0 + 9 * H,
           service_level=ServiceLevel.EXPRESS),
        *EVENTS[1:],
        ev(3, EventType.EXCEPTION, T0 + 3 * H, exception_code=ExceptionCode.ADDRESS_ISSUE),
    ]  # fmt: skip
    for e in events:
        p.handle(e, 7, None)
    stored = table["s"]
    assert stored.state.service_level and stored.state.last_exception_code and stored.state.eta
    expected = orjson.dumps({**stored.state.to_json(), "applied_offset": 7})
    assert encode_stored(stored) == expected
    empty = Stored(ShipmentState(shipment_id="x"), -1)
    assert encode_stored(empty) == orjson.dumps({**empty.state.to_json(), "applied_offset": -1})
