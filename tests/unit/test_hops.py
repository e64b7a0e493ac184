"""Per-hop latency from record times: which record marks which hop, and the quantiles."""

from __future__ import annotations

from streams.messages import Arrival, EventUpdate
from streams.model import EventType, ShipmentEvent
from streams.tools.hops import Hop, Marks, hops, nearest_rank


def update(event_id: str, kind: EventType, ingested: int, *, counted: bool = False) -> EventUpdate:
    event = ShipmentEvent(
        event_id=event_id,
        shipment_id="S1",
        event_type=kind,
        occurred_at=0,
        source="t",
        hub="AMS" if kind is EventType.ARRIVED_HUB else None,
    )
    return EventUpdate(
        event=event, seq=1, ingested_at=ingested, arrival=Arrival(k=1) if counted else None
    )


def test_each_record_marks_its_hop_and_the_first_of_a_replay_counts() -> None:
    marks = Marks()
    marks.add_update(update("a", EventType.CREATED, 1000), 1040, hub_topic=False)
    marks.add_update(update("a", EventType.CREATED, 1000), 1900, hub_topic=False)  # a replay
    marks.add_update(update("h", EventType.ARRIVED_HUB, 2000), 2030, hub_topic=True)
    marks.add_update(update("h", EventType.ARRIVED_HUB, 2000, counted=True), 2100, hub_topic=False)
    marks.decided.update({"a": 1100, "h": 2400})

    assert marks.ingested == {"a": 1000, "h": 2000}
    assert marks.processed == {"a": 1040, "h": 2030}
    assert marks.counted == {"h": 2100}
    figures = hops(marks)
    assert figures["processing"] == Hop(count=2, p50_ms=30, p99_ms=40, max_ms=40)
    assert figures["hub_count"] == Hop(count=1, p50_ms=70, p99_ms=70, max_ms=70)
    # "a" was read by the decision role at 1040, "h" at its counted update (2100), not 2030
    assert figures["decision"] == Hop(count=2, p50_ms=60, p99_ms=300, max_ms=300)
    assert figures["ingested_to_decision"] == Hop(count=2, p50_ms=100, p99_ms=400, max_ms=400)


def test_a_hop_nothing_went_through_has_no_figures() -> None:
    marks = Marks(ingested={"a": 0}, processed={"a": 5})
    assert hops(marks)["hub_count"] is None and hops(marks)["decision"] is None


def test_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert (nearest_rank(values, 0.5), nearest_rank(values, 0.99)) == (50, 99)
    assert nearest_rank(values, 1.0) == 100 and nearest_rank([7], 0.99) == 7
    assert nearest_rank(list(range(1, 1001)), 0.99) == 990
