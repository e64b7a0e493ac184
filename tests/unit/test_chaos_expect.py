"""The oracle (SPEC's rules written apart from the agents) and the chaos comparisons.

Every expected value here is worked out by hand from SPEC, not taken from the code.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ops.chaos import expect
from ops.chaos.oracle import Expected, Oracle
from streams.model import (
    Action,
    Decision,
    EventType,
    ExceptionCode,
    Hub,
    ServiceLevel,
    ShipmentEvent,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z, a window start
H = 3_600_000
HUBS = {
    "AMS": Hub(
        code="AMS", region="NL", capacity_per_window=2, alternate="RTM", transit_hours={"NL": 10}
    ),  # fmt: skip
    "RTM": Hub(code="RTM", region="NL", capacity_per_window=9, transit_hours={"NL": 5}),
}


def ev(sid: str, n: int, t: EventType, at: int, **kw: Any) -> ShipmentEvent:
    return ShipmentEvent(
        event_id=f"{sid}-{n}", shipment_id=sid, event_type=t, occurred_at=at, source="t", **kw
    )


def lifecycle(sid: str = "s1") -> list[ShipmentEvent | None]:
    return [
        ev(
            sid,
            0,
            EventType.CREATED,
            T0,
            destination="NL",
            promised_at=T0 + 2 * H,
            service_level=ServiceLevel.EXPRESS,
        ),  # fmt: skip
        ev(sid, 1, EventType.ARRIVED_HUB, T0 + H, hub="AMS"),  # ETA T0+11h > promise: R3
        ev(sid, 1, EventType.ARRIVED_HUB, T0 + H, hub="AMS"),  # duplicate
        None,  # a record processing must dead-letter
        ev(sid, 2, EventType.EXCEPTION, T0 + 2 * H, exception_code=ExceptionCode.DAMAGED),
        ev(sid, 3, EventType.DELIVERED, T0 + 3 * H),
        ev(sid, 4, EventType.EXCEPTION, T0 + 4 * H, exception_code=ExceptionCode.LOST),  # closed
    ]


def decision(sid: str, rule: str, event: str, eta: int | None, **kw: Any) -> Decision:
    return Decision(
        decision_id=f"{sid}-{rule}-{event}",
        shipment_id=sid,
        action=Action.ESCALATE,
        rule=rule,
        reason="r",
        based_on_event_id=event,
        event_occurred_at=T0,
        decided_at=T0,
        eta=eta,
        **kw,
    )


def test_oracle_counts_and_decides_from_spec() -> None:
    out = expect.replay(lifecycle(), HUBS)
    assert (out.applied, out.duplicates, out.invalid) == (5, 1, 1)
    eta = T0 + H + 10 * H
    assert out.oracle.decisions == [
        Expected("s1", "R3", "s1-1", eta),
        Expected("s1", "R1", "s1-2", eta),
        Expected("s1", "R6", "s1-3", eta),
    ]  # nothing for s1-4: the shipment was closed by then


def test_oracle_r4_notifies_again_only_an_hour_later() -> None:
    o = Oracle(expect.hub_dicts(HUBS))
    o.add(ev("s", 0, EventType.CREATED, T0, destination="NL", promised_at=T0).to_json())
    # RTM: 5 h transit. Scan at T0 -> ETA T0+5h >= promise+4h: first notice.
    o.add(ev("s", 1, EventType.ARRIVED_HUB, T0, hub="RTM").to_json())
    # Scan at T0+30min -> ETA T0+5.5h: only half an hour later, no notice.
    o.add(ev("s", 2, EventType.DEPARTED_HUB, T0 + H // 2, hub="RTM").to_json())
    # AMS scan at T0+1h -> ETA T0+11h: 6 h later, a notice.
    o.add(ev("s", 3, EventType.ARRIVED_HUB, T0 + H, hub="AMS").to_json())
    assert [(e.rule, e.eta) for e in o.decisions] == [("R4", T0 + 5 * H), ("R4", T0 + 11 * H)]


def test_oracle_bounds_reroutes_per_window() -> None:
    o = Oracle(expect.hub_dicts(HUBS))
    for n in range(5):  # five open shipments arrive at AMS (capacity 2) in one window
        o.add(ev(f"a{n}", 1, EventType.ARRIVED_HUB, T0 + n, hub="AMS").to_json())
    o.add(ev("z", 1, EventType.DELIVERED, T0).to_json())
    o.add(ev("z", 2, EventType.ARRIVED_HUB, T0 + 9, hub="AMS").to_json())  # closed: no R5
    # six arrivals numbered 1..6; 4 above capacity; five eligible: between 3 and 4 reroutes
    assert o.reroute_bounds() == {("AMS", T0): (3, 4)}


def test_compare_states_separates_lost_extra_and_mismatched() -> None:
    out = expect.replay(lifecycle("a") + lifecycle("b") + lifecycle("c"), HUBS)
    table: dict[str, dict[str, Any]] = {}
    for sid in "abc":
        table[sid] = {
            "seen_event_ids": [f"{sid}-{n}" for n in range(5)],
            "status": "EXCEPTION",
            "closed": True,
            "latest_hub": "AMS",
            "latest_hub_at": T0 + H,
            "eta": T0 + 11 * H,
            "destination": "NL",
            "promised_at": T0 + 2 * H,
            "service_level": "EXPRESS",
        }
    table["a"]["seen_event_ids"] = ["a-0", "a-1", "a-2", "a-3"]  # a-4 lost
    table["b"]["seen_event_ids"].append("b-9")  # never sent
    table["c"]["eta"] = T0  # same events, another ETA
    diff = expect.compare_states(out.oracle, table)
    assert diff.lost == ["a/a-4"]
    assert diff.extra == ["b/b-9"]
    assert diff.mismatched == ["c: eta"]


def compare(committed: list[Decision], oracle: Oracle | None = None) -> expect.DecisionDiff:
    oracle = oracle or expect.replay(lifecycle(), HUBS).oracle
    return expect.compare_decisions(committed, oracle, HUBS, {0: T0 + 100 * H}, lambda sid: 0)


def required() -> list[Decision]:
    eta = T0 + 11 * H
    return [decision("s1", r, e, eta) for r, e in (("R3", "s1-1"), ("R1", "s1-2"), ("R6", "s1-3"))]


def test_exactly_the_required_decisions_are_clean() -> None:
    diff = compare(required())
    assert (diff.missing, diff.unexpected, diff.violations, diff.duplicated) == ([], [], [], {})


def test_duplicate_commits_are_counted_and_compared() -> None:
    committed = required()
    again = replace(committed[0], decided_at=T0 + 5)
    other = replace(committed[1], reason="something else")
    diff = compare([*committed, again, other])
    assert diff.committed == 5 and diff.distinct == 3
    assert diff.duplicated == {committed[0].decision_id: 2, committed[1].decision_id: 2}
    assert diff.identical_copies == 1
    assert diff.missing == diff.unexpected == []


def test_a_decision_on_another_eta_is_missing_and_unexpected() -> None:
    committed = required()
    committed[0] = replace(committed[0], eta=T0)  # R3 evaluated with another state
    diff = compare(committed)
    assert diff.missing == [f"s1 R3 on s1-1 eta={T0 + 11 * H}"]
    assert diff.unexpected == [f"s1 R3 on s1-1 eta={T0}"]


def test_r4_sequences_in_another_order_are_reported() -> None:
    o = Oracle(expect.hub_dicts(HUBS))
    o.add(ev("s", 0, EventType.CREATED, T0, destination="NL", promised_at=T0).to_json())
    o.add(ev("s", 1, EventType.ARRIVED_HUB, T0, hub="RTM").to_json())
    o.add(ev("s", 3, EventType.ARRIVED_HUB, T0 + H, hub="AMS").to_json())
    # evaluated out of order, the AMS scan first: one notice at T0+11h and none for RTM
    diff = compare([decision("s", "R4", "s-3", T0 + 11 * H)], o)
    assert diff.r4_sequences_differ == ["s"]
    assert diff.missing == [f"s R4 on s-1 eta={T0 + 5 * H}"]


def test_reroutes_are_checked_against_the_window_bounds_and_their_rule() -> None:
    o = Oracle(expect.hub_dicts(HUBS))
    for n in range(4):  # four arrivals at AMS (capacity 2): exactly 2 reroutes
        o.add(ev(f"a{n}", 1, EventType.ARRIVED_HUB, T0 + n, hub="AMS").to_json())

    def r5(sid: str, k: int, target: str = "RTM") -> Decision:
        details = {"hub": "AMS", "k": str(k), "capacity": "2"}
        return decision(sid, "R5", f"{sid}-1", None, target_hub=target, details=details)

    assert compare([r5("a2", 3), r5("a3", 4)], o).r5_windows == {f"AMS@{T0}": [2, 2, 2]}
    short = compare([r5("a2", 3)], o)
    assert short.missing == [f"R5 AMS@{T0}: 1 of at least 2"]
    bad = compare([r5("a2", 3, target="AMS"), r5("a3", 2)], o)
    assert len(bad.violations) == 2


def test_r7_before_48_hours_of_silence_is_a_violation() -> None:
    early = replace(required()[0], decision_id="x", rule="R7", event_occurred_at=T0 + 99 * H)
    fine = replace(early, decision_id="y", event_occurred_at=T0)
    diff = compare([*required(), early, fine])
    assert [v.split()[0] for v in diff.violations] == ["x"]
