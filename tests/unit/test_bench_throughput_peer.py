"""The throughput peers' rules (R1-R4, R6) on hand-worked SPEC examples, and their codec.

Expected values are worked out by hand from SPEC's rule table, not taken from the code:
ETA = latest hub scan + transit hours of that hub to the destination region.
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import fastavro

from ops.bench.throughput.peer import (
    HOUR_MS,
    PeerConfig,
    Tally,
    WireCodec,
    decision_id,
    new_state,
    step,
    strip_logical_types,
)
from streams.codecs.registry import load_schema
from streams.topics import DECISIONS, EVENTS

T = 1_732_838_400_000  # 2024-11-29T00:00:00Z
H = HOUR_MS
TRANSIT = {"H1": {"W": 10, "E": 30}, "H2": {"W": 2}}


def ev(n: int, kind: str, at: int, **fields: Any) -> dict[str, Any]:
    """An event of shipment S1 with id e<n>, every optional field null unless given."""
    base: dict[str, Any] = {
        "event_id": f"e{n}",
        "shipment_id": "S1",
        "event_type": kind,
        "occurred_at": at,
        "source": "tracking",
        "carrier": None,
        "hub": None,
        "origin": None,
        "destination": None,
        "service_level": None,
        "promised_at": None,
        "exception_code": None,
        "attributes": {},
    }
    return {**base, **fields}


def run(events: list[dict[str, Any]]) -> tuple[dict[str, Any], list[list[tuple[str, Any]] | None]]:
    """Fold the events; per event, its decisions as (rule, eta) pairs (None: duplicate)."""
    state = new_state()
    out: list[list[tuple[str, Any]] | None] = []
    for e in events:
        decisions = step(state, e, TRANSIT, decided_at=0)
        out.append(None if decisions is None else [(d["rule"], d["eta"]) for d in decisions])
    return state, out


def test_express_late_is_expedited_once_then_closed() -> None:
    # promised T+17h; arrival at H1 (10 h to W) at T+12h -> ETA T+22h > promise: R3.
    # ETA is 5 h past the promise, but R4 is for STANDARD (or unknown) only.
    state, out = run(
        [
            ev(1, "CREATED", T, destination="W", promised_at=T + 17 * H, service_level="EXPRESS"),
            ev(2, "ARRIVED_HUB", T + 12 * H, hub="H1"),
            ev(3, "DEPARTED_HUB", T + 13 * H, hub="H1"),  # ETA T+23h: already expedited
            ev(4, "DELIVERED", T + 21 * H),
            ev(5, "EXCEPTION", T + 22 * H, exception_code="DAMAGED"),  # closed: nothing
        ]
    )
    assert out == [[], [("R3", T + 22 * H)], [], [("R6", T + 23 * H)], []]
    assert state["closed"] and state["status"] == "EXCEPTION"


def test_standard_notified_at_four_hours_late_and_again_one_hour_later() -> None:
    # promised T+10h. ETA T+14h = promise + 4 h: R4 (">="). T+14h30: less than 1 h later
    # than the notified ETA, nothing. T+15h: exactly 1 h later, R4 again.
    _, out = run(
        [
            ev(1, "CREATED", T, destination="W", promised_at=T + 10 * H, service_level="STANDARD"),
            ev(2, "ARRIVED_HUB", T + 4 * H, hub="H1"),
            ev(3, "DEPARTED_HUB", T + 4 * H + 30 * 60_000, hub="H1"),
            ev(4, "ARRIVED_HUB", T + 5 * H, hub="H1"),
        ]
    )
    assert out == [[], [("R4", T + 14 * H)], [], [("R4", T + 15 * H)]]


def test_unknown_service_level_counts_as_standard_and_three_hours_late_is_not_enough() -> None:
    _, out = run(
        [
            ev(1, "CREATED", T, destination="W", promised_at=T + 11 * H),
            ev(2, "ARRIVED_HUB", T + 4 * H, hub="H1"),  # ETA T+14h = promise + 3 h
            ev(3, "ARRIVED_HUB", T + 5 * H, hub="H1"),  # ETA T+15h = promise + 4 h
        ]
    )
    assert out == [[], [], [("R4", T + 15 * H)]]


def test_exceptions_escalate_once_per_code_and_hold_once_and_duplicates_are_ignored() -> None:
    state, out = run(
        [
            ev(1, "EXCEPTION", T, exception_code="DAMAGED"),
            ev(1, "EXCEPTION", T, exception_code="DAMAGED"),  # same id: duplicate
            ev(2, "EXCEPTION", T + H, exception_code="DAMAGED"),  # DAMAGED again: no
            ev(3, "EXCEPTION", T + 2 * H, exception_code="LOST"),  # another code: yes
            ev(4, "EXCEPTION", T + 3 * H, exception_code="ADDRESS_ISSUE"),
            ev(5, "EXCEPTION", T + 4 * H, exception_code="ADDRESS_ISSUE"),  # held already
            ev(6, "EXCEPTION", T + 5 * H, exception_code="DELAY"),  # no rule
        ]
    )
    assert out == [[("R1", None)], None, [], [("R1", None)], [("R2", None)], [], []]
    assert state["ids"] == ["e1", "e2", "e3", "e4", "e5", "e6"]


def test_late_created_applies_its_facts_and_an_older_scan_moves_nothing() -> None:
    # The scan at H2 (2 h to W) comes first: no destination yet, so no ETA. CREATED arrives
    # late (older): its facts apply, the status stays ARRIVED_HUB, ETA T+5h+2h = T+7h,
    # which is promise (T+2h) + 5 h: R4. An arrival at H1 older than the H2 scan is not
    # the latest scan: ETA stays T+7h, nothing. CANCELLED closes.
    state, out = run(
        [
            ev(1, "ARRIVED_HUB", T + 5 * H, hub="H2"),
            ev(2, "CREATED", T, destination="W", promised_at=T + 2 * H),
            ev(3, "ARRIVED_HUB", T + 1 * H, hub="H1"),
            ev(4, "CANCELLED", T + 6 * H),
        ]
    )
    assert out == [[], [("R4", T + 7 * H)], [], [("R6", T + 7 * H)]]
    assert (state["hub"], state["hub_at"], state["status"]) == ("H2", T + 5 * H, "CANCELLED")


def test_decisions_have_deterministic_ids_per_rule_and_discriminator() -> None:
    state = new_state()
    step(state, ev(1, "CREATED", T, destination="W", promised_at=T), TRANSIT, 0)
    (d,) = step(state, ev(2, "ARRIVED_HUB", T, hub="H1"), TRANSIT, 123) or []
    assert d["decision_id"] == decision_id("S1", "R4", str(T + 10 * H))
    assert d["decision_id"] != decision_id("S1", "R4", str(T + 11 * H))
    assert (d["action"], d["based_on_event_id"], d["decided_at"]) == ("NOTIFY_CUSTOMER", "e2", 123)


def _schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    files = (EVENTS.schema_file, DECISIONS.schema_file)
    event, decision = (json.loads(load_schema(f)) for f in files if f is not None)
    return event, decision


def test_codec_decodes_its_schema_id_only_and_encodes_decisions_in_wire_format() -> None:
    event_schema, decision_schema = _schemas()
    codec = WireCodec(event_schema, 7, decision_schema, 9)
    body = io.BytesIO()
    event = ev(1, "ARRIVED_HUB", T, hub="H1")
    fastavro.schemaless_writer(body, fastavro.parse_schema(event_schema), event)
    raw = struct.pack(">bI", 0, 7) + body.getvalue()
    assert codec.decode_event(raw) == event  # timestamps stay epoch ms
    assert codec.decode_event(struct.pack(">bI", 0, 8) + body.getvalue()) is None
    assert codec.decode_event(b'{"event_id": "e1"}') is None
    assert codec.decode_event(b"\x00\x00\x00\x00\x07\xff\xff") is None
    assert codec.decode_event(None) is None

    state = new_state()
    (d,) = step(state, ev(1, "DELIVERED", T), TRANSIT, T) or []
    wire = codec.encode_decision(d)
    assert wire[:5] == struct.pack(">bI", 0, 9)
    back = fastavro.schemaless_reader(
        io.BytesIO(wire[5:]), fastavro.parse_schema(strip_logical_types(decision_schema)), None
    )
    assert back == d


def test_config_round_trips_and_tally_counts(tmp_path: Any) -> None:
    event_schema, decision_schema = _schemas()
    cfg = PeerConfig("b:1", "in", "out", "g", 3, event_schema, 1, decision_schema, 2, TRANSIT, "s")
    cfg.dump(tmp_path / "c.json")
    assert PeerConfig.load(tmp_path / "c.json") == cfg
    tally = Tally()
    tally.count(None)
    tally.count([{"rule": "R6"}, {"rule": "R1"}])
    tally.count([])
    assert (tally.applied, tally.duplicates, tally.decisions) == (2, 1, 2)
    assert tally.by_rule == {"R6": 1, "R1": 1}
