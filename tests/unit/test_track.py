"""The decision role's table value: msgspec writes the JSON the hand-written encoders wrote."""

from __future__ import annotations

from typing import Any

import orjson

from streams import messages
from streams.agents.decision.memory import DecisionMemory
from streams.agents.decision.track import TRACK_VERSION, Track
from streams.agents.processing.reducer import fold
from streams.model import (
    Action,
    Decision,
    EventType,
    ExceptionCode,
    ServiceLevel,
    ShipmentEvent,
)

T0 = 1_767_225_600_000


def event(n: int, kind: EventType, **kw: Any) -> ShipmentEvent:
    return ShipmentEvent(
        event_id=f"e{n}", shipment_id="s1", event_type=kind, occurred_at=T0 + n, source="t", **kw
    )


def legacy_bytes(track: Track) -> bytes:
    """Version 2 as it was written before msgspec (the independent reference)."""
    state = None if track.state is None else track.state.to_json()
    if state is not None:
        state["seen_event_ids"] = []
    return orjson.dumps(
        {
            "v": TRACK_VERSION,
            "shipment_id": track.shipment_id,
            "next_seq": track.next_seq,
            "state": state,
            "memory": None if track.memory is None else track.memory.to_json(),
            "waiting": [messages.to_dict(u) for u in track.waiting],
            "waiting_since": track.waiting_since,
        }
    )


def a_track() -> Track:
    state, _ = fold(
        None, event(1, EventType.CREATED, service_level=ServiceLevel.EXPRESS, destination="NL"), {}
    )
    state, _ = fold(state, event(2, EventType.EXCEPTION, exception_code=ExceptionCode.DAMAGED), {})
    memory = DecisionMemory(
        shipment_id="s1",
        escalated_codes=frozenset({ExceptionCode.DAMAGED, ExceptionCode.ADDRESS_ISSUE}),
        rerouted_hubs=frozenset({"RTM", "AMS", "FRA"}),
        held=True,
        notified_eta=T0 + 99,
        last_event_id="e2",
        last_event_at=T0 + 2,
    )
    waiting = (
        messages.EventUpdate(event=event(4, EventType.DEPARTED_HUB, hub="AMS"), seq=4),
        messages.EventUpdate(
            event=event(5, EventType.ARRIVED_HUB, hub="RTM", attributes={"dock": "7"}),
            seq=5,
            ingested_at=T0 + 10,
            arrival=messages.Arrival(k=3, capacity=2, alternate="AMS"),
        ),
    )
    return Track(
        shipment_id="s1",
        next_seq=3,
        state=state,
        memory=memory,
        waiting=waiting,
        waiting_since=T0 + 50,
    )


def test_the_bytes_are_the_json_of_version_2() -> None:
    track = a_track()
    assert orjson.loads(track.to_bytes()) == orjson.loads(legacy_bytes(track))


def test_equal_tracks_give_equal_bytes_whatever_the_set_order() -> None:
    track = a_track()
    assert track.memory is not None
    reordered = Track(
        shipment_id="s1",
        next_seq=track.next_seq,
        state=track.state,
        memory=DecisionMemory(
            **{
                **{f: getattr(track.memory, f) for f in track.memory.__struct_fields__},
                "rerouted_hubs": frozenset(["FRA", "RTM", "AMS"]),
            }
        ),
        waiting=track.waiting,
        waiting_since=track.waiting_since,
    )
    assert reordered.to_bytes() == track.to_bytes()


def test_bytes_written_either_way_read_back_as_the_same_track() -> None:
    track = a_track()
    assert Track.from_value("s1", track.to_bytes()) == track
    assert Track.from_value("s1", legacy_bytes(track)) == track


def test_a_memory_of_version_1_becomes_a_track_without_seqs() -> None:
    memory = DecisionMemory(shipment_id="s1", held=True).remember(
        Decision(
            decision_id="d",
            shipment_id="s1",
            action=Action.CLOSE,
            rule="R6",
            reason="delivered",
            based_on_event_id="e1",
            event_occurred_at=T0,
            decided_at=T0,
        )
    )
    v1 = memory.to_json()
    untagged = {k: v for k, v in v1.items() if k != "v"}
    for value in (v1, untagged):
        track = Track.from_value("s1", orjson.dumps(value))
        assert track.next_seq is None and track.memory == memory
