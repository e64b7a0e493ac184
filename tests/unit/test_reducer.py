from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from streams.agents.processing.eta import compute_eta
from streams.agents.processing.reducer import DEDUP_WINDOW, Outcome, ShipmentState, apply
from streams.model import EventType, ExceptionCode, Hub, ServiceLevel, ShipmentEvent

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
H = 3_600_000
HUBS = {"AMS": Hub(code="AMS", region="EU-W", capacity_per_window=2, transit_hours={"EU-N": 30})}


def ev(event_id: str, event_type: EventType, at: int, **kw: Any) -> ShipmentEvent:
    return ShipmentEvent(
        event_id=event_id,
        shipment_id="s1",
        event_type=event_type,
        occurred_at=at,
        source="test",
        **kw,
    )


CREATED = ev(
    "c",
    EventType.CREATED,
    T0,
    destination="EU-N",
    promised_at=T0 + 48 * H,
    service_level=ServiceLevel.STANDARD,
    origin="EU-W",
    carrier="acme",
)
SCAN = ev("a", EventType.ARRIVED_HUB, T0 + H, hub="AMS")


def fold(*events: ShipmentEvent) -> ShipmentState:
    state = None
    for e in events:
        state = apply(state, e, HUBS).state
    assert state is not None
    return state


def test_first_event_creates_state_and_eta_is_scan_plus_transit() -> None:
    result = apply(None, SCAN, HUBS)
    assert result.outcome is Outcome.APPLIED and result.eta is None  # no destination yet
    state = fold(CREATED, SCAN)
    assert (state.status, state.latest_hub, state.latest_hub_at) == (
        EventType.ARRIVED_HUB,
        "AMS",
        T0 + H,
    )
    assert state.eta == T0 + 31 * H and state.event_count == 2


def test_duplicate_is_ignored_and_state_unchanged() -> None:
    state = fold(CREATED, SCAN)
    result = apply(state, ev("a", EventType.DELIVERED, T0 + 9 * H), HUBS)
    assert result.outcome is Outcome.DUPLICATE and result.state is state


def test_created_arriving_late_sets_facts_and_eta() -> None:
    state = fold(SCAN, ev("p", EventType.PICKED_UP, T0 + 2 * H), CREATED)
    assert state.created_seen and state.destination == "EU-N" and state.carrier == "acme"
    assert state.status is EventType.PICKED_UP  # a late CREATED does not move the status
    assert state.eta == T0 + 31 * H


def test_older_event_updates_history_not_status_nor_latest_scan() -> None:
    late_scan = ev("old", EventType.DEPARTED_HUB, T0 - H, hub="UNKNOWN")
    result = apply(fold(CREATED, SCAN), late_scan, HUBS)
    assert result.older and result.outcome is Outcome.APPLIED
    assert result.state.status is EventType.ARRIVED_HUB and result.state.latest_hub == "AMS"
    assert result.state.recent_ids[-1] == "old" and result.state.seq == 3


def test_final_state_does_not_depend_on_arrival_order() -> None:
    events = [
        CREATED,
        SCAN,
        ev("o", EventType.OUT_FOR_DELIVERY, T0 + 5 * H),
        ev("d", EventType.DEPARTED_HUB, T0 + 2 * H, hub="AMS"),
    ]
    # The ids keep the order they were accepted in; everything else must not depend on it.
    states = {
        json.dumps({**fold(*p).to_json(), "seen_event_ids": None})
        for p in itertools.permutations(events)
    }
    assert len(states) == 1
    state = ShipmentState.from_json(json.loads(states.pop()))
    assert state.status is EventType.OUT_FOR_DELIVERY and state.latest_hub_at == T0 + 2 * H


def test_unknown_hub_or_region_gives_no_eta() -> None:
    assert fold(CREATED, ev("x", EventType.ARRIVED_HUB, T0 + H, hub="NOPE")).eta is None
    assert compute_eta("AMS", T0, "US-E", HUBS) is None
    assert compute_eta("AMS", T0, "EU-N", {}) is None


def test_closed_by_delivered_yet_later_events_still_apply() -> None:
    state = fold(CREATED, ev("d", EventType.DELIVERED, T0 + 2 * H))
    assert state.closed
    after = apply(
        state, ev("x", EventType.EXCEPTION, T0 + 3 * H, exception_code=ExceptionCode.DAMAGED), HUBS
    )
    assert after.outcome is Outcome.APPLIED and after.state.closed
    assert after.state.last_exception_code is ExceptionCode.DAMAGED


def test_state_json_roundtrip() -> None:
    state = fold(
        CREATED, SCAN, ev("e", EventType.EXCEPTION, T0 + 2 * H, exception_code=ExceptionCode.DELAY)
    )
    assert ShipmentState.from_json(json.loads(json.dumps(state.to_json()))) == state


def test_event_of_another_shipment_is_refused() -> None:
    other = ShipmentEvent(
        event_id="z", shipment_id="s2", event_type=EventType.CREATED, occurred_at=T0, source="test"
    )
    with pytest.raises(ValueError, match="s2"):
        apply(fold(CREATED), other, HUBS)


def test_each_accepted_event_gets_the_next_seq_and_a_replay_finds_its_own() -> None:
    state = fold(CREATED, SCAN, ev("o", EventType.OUT_FOR_DELIVERY, T0 + 5 * H))
    assert state.seq == 3 and state.recent_ids == (CREATED.event_id, SCAN.event_id, "o")
    assert state.seq_of(SCAN.event_id) == 2 and state.seq_of("never") is None
    again = apply(state, SCAN, HUBS)
    assert again.outcome is Outcome.DUPLICATE and again.state.seq == 3


def test_dedup_state_is_bounded_and_seqs_stay_right_past_the_bound() -> None:
    state = None
    for n in range(DEDUP_WINDOW + 10):
        state = apply(state, ev(f"e{n}", EventType.EXCEPTION, T0 + n), HUBS).state
    assert state is not None and state.seq == DEDUP_WINDOW + 10
    assert len(state.recent_ids) == DEDUP_WINDOW and state.recent_ids[0] == "e10"
    assert state.seq_of("e10") == 11 and state.seq_of(f"e{DEDUP_WINDOW + 9}") == DEDUP_WINDOW + 10
    # an id older than the window is no longer recognised (the documented cost of the bound)
    assert apply(state, ev("e0", EventType.EXCEPTION, T0), HUBS).outcome is Outcome.APPLIED
