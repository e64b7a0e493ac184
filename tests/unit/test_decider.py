"""The decision role's logic with plain mappings: order through the hub detour, crash paths, R7.

The property test feeds the :class:`Decider` random interleavings of the direct updates and
the detoured ARRIVED_HUBs (plus re-deliveries) and compares what it decides with the oracle,
SPEC's rules written apart from the agents' code (``ops/chaos/oracle.py``).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest

from ops.chaos.oracle import Oracle
from streams.agents.decision.decider import Decider, Outcome
from streams.agents.decision.rules import R7_SILENCE_MS
from streams.messages import Arrival, EventUpdate
from streams.model import Decision, EventType, ExceptionCode, Hub, ServiceLevel, ShipmentEvent
from tables.writeback import WriteBack

T0 = 1_767_225_600_000
H = 3_600_000
HUBS = {
    "AMS": Hub(code="AMS", region="NL", capacity_per_window=3, alternate="RTM",
               transit_hours={"NL": 30, "DE": 50}),
    "RTM": Hub(code="RTM", region="NL", capacity_per_window=50, alternate="AMS",
               transit_hours={"NL": 3, "DE": 8}),
    "FRA": Hub(code="FRA", region="DE", capacity_per_window=2, transit_hours={"DE": 1}),
}  # fmt: skip
ORACLE_HUBS = {code: hub.to_avro() for code, hub in HUBS.items()}


class Emitted:
    """An ``emit`` that records decisions (acked at once)."""

    def __init__(self) -> None:
        self.decisions: list[Decision] = []

    def __call__(self, d: Decision, update: EventUpdate | None, partition: int) -> None:
        self.decisions.append(d)


def decider(table: MutableMapping[str, Any] | None = None, **kw: Any) -> tuple[Decider, Emitted]:
    emitted = Emitted()
    d = Decider(
        {} if table is None else table, {}, HUBS, emitted, lambda sid: 0, clock=lambda: T0, **kw
    )
    return d, emitted


def ev(sid: str, n: int, t: EventType, at: int, **kw: Any) -> ShipmentEvent:
    return ShipmentEvent(
        event_id=f"{sid}-{n}", shipment_id=sid, event_type=t, occurred_at=at, source="t", **kw
    )


def shipment(rng: random.Random, sid: str) -> list[ShipmentEvent]:
    """A lifecycle with scans at hubs, sometimes an exception, sometimes late events."""
    at = T0 + rng.randrange(0, 40) * 60_000
    dest = rng.choice(["NL", "DE"])
    level = rng.choice([ServiceLevel.STANDARD, ServiceLevel.EXPRESS, None])
    out = [ev(sid, 0, EventType.CREATED, at, destination=dest, promised_at=at + rng.choice(
        [2, 20, 40]) * H, service_level=level)]  # fmt: skip
    for hub in rng.sample(sorted(HUBS), rng.randint(1, 3)):
        at += rng.randrange(1, 30) * 60_000
        out.append(ev(sid, len(out), EventType.ARRIVED_HUB, at, hub=hub))
        at += rng.randrange(1, 30) * 60_000
        out.append(ev(sid, len(out), EventType.DEPARTED_HUB, at, hub=hub))
    if rng.random() < 0.3:
        code = rng.choice(list(ExceptionCode))
        out.append(ev(sid, len(out), EventType.EXCEPTION, at + 1, exception_code=code))
    out.append(ev(sid, len(out), EventType.OUT_FOR_DELIVERY, at + 2))
    out.append(ev(sid, len(out), rng.choice([EventType.DELIVERED, EventType.CANCELLED]), at + 3))
    if rng.random() < 0.2:  # an event after the close, and a late scan
        out.append(ev(sid, len(out), EventType.ARRIVED_HUB, at - H, hub="AMS"))
    if rng.random() < 0.3:  # CREATED last: its facts apply late
        out.append(out.pop(0))
    return out


def deliveries(rng: random.Random, events: list[ShipmentEvent]) -> Iterator[EventUpdate]:
    """What the decision role may receive: direct updates in order, arrivals late, repeats."""
    seqs: dict[str, int] = defaultdict(int)
    direct: list[EventUpdate] = []
    detour: list[EventUpdate] = []
    for e in events:
        seqs[e.shipment_id] += 1
        u = EventUpdate(event=e, seq=seqs[e.shipment_id])
        (detour if e.event_type is EventType.ARRIVED_HUB else direct).append(u)
    counted: dict[tuple[str, int], list[str]] = defaultdict(list)
    sent: list[EventUpdate] = []
    while direct or detour:
        take_detour = detour and (not direct or rng.random() < 0.3)
        if take_detour:
            u = detour.pop(0)
            hub = HUBS[u.event.hub or ""]
            window = counted[(hub.code, u.event.occurred_at - u.event.occurred_at % 900_000)]
            window.append(u.event.event_id)
            u = u.counted(Arrival(k=len(window), capacity=hub.capacity_per_window,
                                  alternate=hub.alternate))  # fmt: skip
        else:
            u = direct.pop(0)
        sent.append(u)
        yield u
        if rng.random() < 0.05:  # a re-delivery of something already sent
            yield rng.choice(sent)


def check_against_oracle(seed: int) -> None:
    rng = random.Random(seed)
    per = [shipment(rng, f"s{n}") for n in range(25)]
    # Interleave shipments, each in its own order (what one input partition gives).
    events: list[ShipmentEvent] = []
    queues = [list(p) for p in per]
    while any(queues):
        q = rng.choice([q for q in queues if q])
        events.append(q.pop(0))
    oracle = Oracle(ORACLE_HUBS)
    for e in events:
        oracle.add(e.to_json())
    d, emitted = decider()

    for u in deliveries(rng, events):
        d.on_update(u, 0)
    assert d.waiting_updates() == 0
    own = [x for x in emitted.decisions if x.rule != "R5"]
    got = sorted((x.shipment_id, x.rule, x.based_on_event_id, x.eta or 0) for x in own)
    want = sorted((e.shipment_id, e.rule, e.event_id, e.eta or 0) for e in oracle.decisions)
    assert got == want
    assert len({x.decision_id for x in emitted.decisions}) == len(emitted.decisions)
    reroutes: dict[tuple[str, int], int] = defaultdict(int)
    eligible = {(a.shipment_id, a.event_id) for a in oracle.arrivals if a.eligible}
    for x in emitted.decisions:
        if x.rule == "R5":
            assert (x.shipment_id, x.based_on_event_id) in eligible
            at = x.event_occurred_at
            reroutes[(x.details["hub"], at - at % 900_000)] += 1
    for key, (least, most) in oracle.reroute_bounds().items():
        assert least <= reroutes.get(key, 0) <= most, key


@pytest.mark.parametrize("seed", range(40))
def test_random_interleavings_decide_as_the_oracle(seed: int) -> None:
    check_against_oracle(seed)


def upd(e: ShipmentEvent, seq: int, **kw: Any) -> EventUpdate:
    return EventUpdate(event=e, seq=seq, **kw)


def lifecycle() -> list[EventUpdate]:
    created = ev("s", 0, EventType.CREATED, T0, destination="NL", promised_at=T0)
    arrived = ev("s", 1, EventType.ARRIVED_HUB, T0 + H, hub="AMS")
    departed = ev("s", 2, EventType.DEPARTED_HUB, T0 + 2 * H, hub="RTM")
    delivered = ev("s", 3, EventType.DELIVERED, T0 + 3 * H)
    k = Arrival(k=4, capacity=3, alternate="RTM")
    return [upd(created, 1), upd(arrived, 2, arrival=k), upd(departed, 3), upd(delivered, 4)]


def test_updates_ahead_of_the_detour_wait_and_are_released_in_order() -> None:
    d, emitted = decider()
    created, arrived, departed, delivered = lifecycle()

    outcomes = [d.on_update(u, 0) for u in (created, departed, delivered, arrived)]
    assert outcomes == [Outcome.EVALUATED, Outcome.WAITING, Outcome.WAITING,
                                  Outcome.EVALUATED]  # fmt: skip
    # In order: AMS arrival ETA T0+31h (R4, R5), RTM departure ETA T0+5h (no notice), close.
    assert [(x.rule, x.eta) for x in emitted.decisions] == [
        ("R4", T0 + 31 * H), ("R5", T0 + 31 * H), ("R6", T0 + 5 * H)]  # fmt: skip
    assert d.waiting_updates() == 0


def test_waiting_is_counted_and_aged_and_survives_a_rebalance() -> None:
    table: dict[str, Any] = {}
    d, _ = decider(table)
    created, _arrived, departed, _ = lifecycle()
    d.on_update(created, 0)
    d.on_update(departed, 0)
    assert d.waiting_updates() == 1
    # Another worker takes the partition: the waiting update is in the table, not in memory.
    other, emitted = decider(dict(table))
    other.rebuild(other.table.items())
    assert other.waiting_updates() == 1
    for u in lifecycle()[1:]:
        other.on_update(u, 0)
    assert [x.rule for x in emitted.decisions] == ["R4", "R5", "R6"]


def test_replay_after_the_ack_but_before_the_table_write_takes_the_same_decisions() -> None:
    table: dict[str, Any] = {}
    d, first = decider(table)
    created, arrived, *_ = lifecycle()
    d.on_update(created, 0)
    before = dict(table)  # the changelog as the crash left it
    d.on_update(arrived, 0)
    # Crash: decisions acked, the table write lost. The next owner replays the update.
    again, second = decider(before)
    again.on_update(arrived, 0)
    assert [x.decision_id for x in second.decisions] == [x.decision_id for x in first.decisions]


def test_a_replay_of_an_evaluated_update_decides_nothing() -> None:
    d, emitted = decider()
    for u in lifecycle():
        d.on_update(u, 0)
    n = len(emitted.decisions)
    assert d.on_update(lifecycle()[1], 0) is Outcome.REPLAYED
    assert len(emitted.decisions) == n


def test_past_the_bound_the_missing_update_is_given_up_and_counted() -> None:
    gaps: list[int] = []
    d, emitted = decider(max_waiting=2, on_gap_skipped=lambda: gaps.append(1))
    created, _arrived, departed, delivered = lifecycle()
    extra = upd(ev("s", 4, EventType.EXCEPTION, T0 + 4 * H,
                   exception_code=ExceptionCode.DAMAGED), 5)  # fmt: skip
    for u in (created, departed, delivered, extra):
        d.on_update(u, 0)
    assert gaps == [1] and d.waiting_updates() == 0
    # Without the arrival: RTM departure ETA T0+5h >= promise+4h (R4), close; the exception
    # comes after the close.
    assert [(x.rule, x.eta) for x in emitted.decisions] == [("R4", T0 + 5 * H), ("R6", T0 + 5 * H)]


def test_r7_index_is_rebuilt_from_the_table_after_a_rebalance() -> None:
    table: dict[str, Any] = {}
    d, _ = decider(table)
    created = ev("s", 0, EventType.CREATED, T0, destination="NL", promised_at=T0 + 99 * H)
    d.on_update(upd(created, 1), 0)
    other, emitted = decider(dict(table))
    other.stream_time["0"] = T0 + R7_SILENCE_MS
    assert other.due(0)
    assert other.on_tick(0) == 1
    assert [(x.rule, x.reason) for x in emitted.decisions] == [("R7", "stalled")]
    assert other.on_tick(0) == 0  # once per silence


def test_r7_index_rebuilt_in_chunks_waits_for_the_end_and_keeps_newer_updates() -> None:
    table: dict[str, Any] = {}
    d, _ = decider(table)
    for sid in ("a", "b", "c"):
        d.on_update(upd(ev(sid, 0, EventType.CREATED, T0, destination="NL"), 1), 0)
    stale = dict(table)  # what the scan reads for "a": before its delivery below
    other, emitted = decider(table)
    other.stream_time["0"] = T0 + R7_SILENCE_MS
    other.start_rebuild()
    other.rebuild_from([("a", stale["a"])])
    assert other.on_tick(0) == 0 and other.due(0)  # R7 waits for the whole index
    # An update during the rebuild: "a" is delivered and closed; the scan's stale value for
    # it (read after) must not bring its silence back.
    other.on_update(upd(ev("a", 1, EventType.DELIVERED, T0 + 1), 2), 0)
    other.rebuild_from([(b"a", stale["a"]), (b"b", table["b"])])
    other.rebuild_from([("c", table["c"])])
    other.end_rebuild()
    assert other.silences[0]["a"].done  # the update's entry, not the scan's
    assert other.on_tick(0) == 2
    r7 = sorted(x.shipment_id for x in emitted.decisions if x.rule == "R7")
    assert r7 == ["b", "c"]


def test_writes_through_a_write_back_reach_the_table_only_when_taken() -> None:
    table: dict[str, Any] = {}
    writes: WriteBack[str, Any] = WriteBack(table)
    d, emitted = decider(writes)
    created, arrived, *_ = lifecycle()
    writes.at(0)
    d.on_update(created, 0)
    d.on_update(arrived, 0)  # reads its own pending value, not the empty table
    assert table == {} and [x.rule for x in emitted.decisions] == ["R4", "R5"]
    taken = writes.take()
    assert list(taken) == [0] and [k for k, _ in taken[0]] == ["s"] and writes.take() == {}
    table.update(taken[0])
    assert d.load("s").next_seq == 3
