from __future__ import annotations

import json
from typing import Any

from msgspec.structs import replace

from streams.agents.decision.ids import decision_id
from streams.agents.decision.memory import DecisionMemory
from streams.agents.decision.rules import R7_SILENCE_MS, Update, evaluate, stalled
from streams.agents.processing.reducer import ShipmentState, apply
from streams.model import Action, Decision, EventType, ExceptionCode, Hub, ServiceLevel
from streams.model import ShipmentEvent as Ev

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
H, MIN = 3_600_000, 60_000
NOW = 1_800_000_000_000  # wall clock: only ever in decided_at


def ev(event_id: str, t: EventType, at: int = T0, **kw: Any) -> Ev:
    return Ev(event_id=event_id, shipment_id="s1", event_type=t, occurred_at=at, source="t", **kw)


def upd(event: Ev, **state: Any) -> Update:
    return Update(event=event, state=ShipmentState(shipment_id="s1", **state))


def run(*updates: Update, memory: DecisionMemory | None = None) -> tuple[list[Decision], Any]:
    out: list[Decision] = []
    for u in updates:
        decisions, memory = evaluate(u, memory, decided_at=NOW)
        out += decisions
    return out, memory


def rules(decisions: list[Decision]) -> list[tuple[str, Action]]:
    return [(d.rule, d.action) for d in decisions]


def exc(event_id: str, code: ExceptionCode) -> Update:
    return upd(ev(event_id, EventType.EXCEPTION, exception_code=code))


def late(eta_after_promise: int, event_id: str = "a", **state: Any) -> Update:
    return upd(
        ev(event_id, EventType.ARRIVED_HUB, hub="AMS"),
        promised_at=T0,
        eta=T0 + eta_after_promise,
        **state,
    )


def test_r1_escalates_damaged_and_lost_once_per_code() -> None:
    out, _ = run(
        exc("1", ExceptionCode.DAMAGED),
        exc("2", ExceptionCode.DAMAGED),
        exc("3", ExceptionCode.LOST),
        exc("4", ExceptionCode.DELAY),
    )
    assert rules(out) == [("R1", Action.ESCALATE)] * 2
    assert [d.details["code"] for d in out] == ["DAMAGED", "LOST"]


def test_r2_holds_once_on_address_issue() -> None:
    out, _ = run(exc("1", ExceptionCode.ADDRESS_ISSUE), exc("2", ExceptionCode.ADDRESS_ISSUE))
    assert rules(out) == [("R2", Action.HOLD)]


def test_r3_expedites_express_only_when_eta_after_promise_once() -> None:
    express = {"service_level": ServiceLevel.EXPRESS}
    assert run(late(0, **express))[0] == []  # ETA == promise is on time
    out, _ = run(late(1, "a", **express), late(2 * H, "b", **express))
    assert rules(out) == [("R3", Action.EXPEDITE)]


def test_r4_threshold_is_four_hours_and_applies_to_unknown_level() -> None:
    assert run(late(4 * H - 1))[0] == []
    assert rules(run(late(4 * H))[0]) == [("R4", Action.NOTIFY_CUSTOMER)]
    assert run(late(9 * H, service_level=ServiceLevel.EXPRESS))[0][0].rule == "R3"


def test_r4_renotifies_only_after_another_full_hour() -> None:
    first, memory = run(late(4 * H, "a", service_level=ServiceLevel.STANDARD))
    assert run(late(4 * H + 59 * MIN, "b"), memory=memory)[0] == []
    again, memory = run(late(4 * H + 60 * MIN, "c"), memory=memory)
    assert rules(again) == [("R4", Action.NOTIFY_CUSTOMER)]
    assert again[0].decision_id != first[0].decision_id
    assert run(late(5 * H + 59 * MIN, "d"), memory=memory)[0] == []


def arrival(event_id: str, hub: str, k: int, alternate: str | None = "RTM") -> Update:
    return replace(
        upd(ev(event_id, EventType.ARRIVED_HUB, hub=hub)),
        arrival_k=k,
        hub_capacity=2,
        hub_alternate=alternate,
    )


def test_r5_reroutes_over_capacity_once_per_hub() -> None:
    out, _ = run(
        arrival("1", "AMS", 2),
        arrival("2", "AMS", 3, alternate=None),
        arrival("3", "AMS", 3),
        arrival("4", "AMS", 4),
        arrival("5", "BRU", 3),
    )
    assert [(d.rule, d.target_hub, d.details["hub"]) for d in out] == [
        ("R5", "RTM", "AMS"),
        ("R5", "RTM", "BRU"),
    ]
    assert out[0].details["k"] == "3" and out[0].details["capacity"] == "2"


def test_r6_closes_once_and_then_nothing_is_decided() -> None:
    out, memory = run(
        upd(ev("d", EventType.DELIVERED)),
        upd(ev("c", EventType.CANCELLED)),
        exc("x", ExceptionCode.LOST),
    )
    assert rules(out) == [("R6", Action.CLOSE)]
    assert stalled(memory, T0 + 10 * R7_SILENCE_MS, decided_at=NOW) is None


def test_rules_fire_in_order_on_one_event() -> None:
    out, _ = run(upd(ev("x", EventType.CANCELLED), promised_at=T0, eta=T0 + 5 * H))
    assert rules(out) == [("R4", Action.NOTIFY_CUSTOMER), ("R6", Action.CLOSE)]


def test_r7_once_per_silence_and_rearmed_by_a_newer_event() -> None:
    _, memory = run(upd(ev("a", EventType.PICKED_UP, T0)))
    assert stalled(memory, T0 + R7_SILENCE_MS - 1, decided_at=NOW) is None
    d = stalled(memory, T0 + R7_SILENCE_MS, decided_at=NOW)
    assert d is not None and (d.reason, d.action, d.based_on_event_id) == (
        "stalled",
        Action.ESCALATE,
        "a",
    )
    memory = memory.remember(d)
    assert stalled(memory, T0 + 3 * R7_SILENCE_MS, decided_at=NOW) is None
    _, memory = run(upd(ev("old", EventType.PICKED_UP, T0 - H)), memory=memory)
    assert stalled(memory, T0 + 3 * R7_SILENCE_MS, decided_at=NOW) is None  # late: same silence
    _, memory = run(upd(ev("b", EventType.ARRIVED_HUB, T0 + H, hub="AMS")), memory=memory)
    again = stalled(memory, T0 + H + R7_SILENCE_MS, decided_at=NOW)
    assert again is not None and again.decision_id != d.decision_id


def test_same_stream_gives_same_ids_whatever_the_wall_clock() -> None:
    hubs = {
        "AMS": Hub(
            code="AMS",
            region="EU",
            capacity_per_window=1,
            alternate="RTM",
            transit_hours={"EU-N": 60},
        )
    }
    stream = [
        ev("c", EventType.CREATED, T0, destination="EU-N", promised_at=T0 + 24 * H),
        ev("a", EventType.ARRIVED_HUB, T0 + H, hub="AMS"),
        ev("x", EventType.EXCEPTION, T0 + 2 * H, exception_code=ExceptionCode.LOST),
        ev("d", EventType.DELIVERED, T0 + 3 * H),
    ]

    def ids(decided_at: int) -> list[str]:
        state, memory, out = None, None, []
        for e in stream:
            state = apply(state, e, hubs).state
            decisions, memory = evaluate(Update(event=e, state=state), memory, decided_at)
            out += [d.decision_id for d in decisions]
        return out

    assert ids(NOW) == ids(NOW + 12345) and len(ids(NOW)) == 3
    assert ids(NOW)[0] == decision_id("s1", "R4", str(T0 + 61 * H))


def test_update_and_memory_json_roundtrip() -> None:
    u = replace(late(5 * H, service_level=ServiceLevel.STANDARD), arrival_k=3, hub_capacity=2)
    assert Update.from_json(json.loads(json.dumps(u.to_json()))) == u
    _, memory = run(u, arrival("2", "AMS", 3), exc("3", ExceptionCode.DAMAGED))
    assert DecisionMemory.from_json(json.loads(json.dumps(memory.to_json()))) == memory
