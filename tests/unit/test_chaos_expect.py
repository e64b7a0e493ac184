"""The chaos harness' recomputation and comparisons, on plain data (no broker)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ops.chaos import expect
from streams.agents.decision.rules import R7_SILENCE_MS
from streams.model import Decision, EventType, ExceptionCode, Hub, ServiceLevel, ShipmentEvent

T0 = 1_767_225_600_000
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
    ]


def test_replay_counts_and_folds_like_the_reducer() -> None:
    out = expect.replay(lifecycle(), HUBS)
    assert (out.applied, out.duplicates, out.invalid) == (4, 1, 1)
    state = out.states["s1"]
    assert state.closed and state.status is EventType.DELIVERED and state.latest_hub == "AMS"
    assert [u.event.event_id for u in out.updates["s1"]] == ["s1-0", "s1-1", "s1-2", "s1-3"]


def test_decide_keeps_the_rules_asked_for() -> None:
    updates = expect.replay(lifecycle(), HUBS).updates["s1"]
    everything = expect.decide(updates)
    assert sorted(d.rule for d in everything.values()) == ["R1", "R3", "R6"]
    only = expect.decide(updates, frozenset({"R6"}))
    assert [d.rule for d in only.values()] == ["R6"]


def test_compare_states_separates_lost_extra_and_mismatched() -> None:
    states = expect.replay(lifecycle("a") + lifecycle("b") + lifecycle("c"), HUBS).states
    table = {sid: s.to_json() for sid, s in states.items()}
    table["a"]["seen_event_ids"] = ["a-0", "a-1", "a-2"]  # a-3 lost
    table["b"]["seen_event_ids"].append("b-9")  # never sent
    table["c"]["status"] = "EXCEPTION"  # same events, other status
    diff = expect.compare_states(states, table)
    assert diff.lost == ["a/a-3"]
    assert diff.extra == ["b/b-9"]
    assert diff.mismatched == ["c: status"]


def test_compare_states_of_an_identical_table_is_clean() -> None:
    states = expect.replay(lifecycle(), HUBS).states
    diff = expect.compare_states(states, {k: v.to_json() for k, v in states.items()})
    assert (diff.lost, diff.extra, diff.mismatched) == ([], [], [])


def _decisions() -> dict[str, Decision]:
    return expect.decide(expect.replay(lifecycle(), HUBS).updates["s1"])


def compare(committed: list[Decision], **kw: Any) -> expect.DecisionDiff:
    expected = _decisions()
    args: dict[str, Any] = {
        "by_input": {k: d for k, d in expected.items() if d.rule in expect.OWN_ORDER_RULES},
        "by_consumed": expected,
        "hubs": HUBS,
        "stream_time": {0: T0 + 100 * H},
        "partition_of": lambda sid: 0,
    }
    args.update(kw)
    return expect.compare_decisions(committed, **args)


def test_duplicate_commits_are_counted_and_compared() -> None:
    committed = list(_decisions().values())
    again = replace(committed[0], decided_at=committed[0].decided_at + 5)
    other = replace(committed[1], reason="something else")
    diff = compare([*committed, again, other])
    assert diff.committed == 5 and diff.distinct == 3
    assert diff.duplicated == {committed[0].decision_id: 2, committed[1].decision_id: 2}
    assert diff.identical_copies == 1
    assert diff.missing == diff.unexpected == diff.violations == []


def test_missing_and_unexpected_decisions() -> None:
    committed = [d for d in _decisions().values() if d.rule != "R1"]
    stray = replace(committed[0], decision_id="f" * 32, rule="R2")
    diff = compare([*committed, stray])
    assert [m.split()[1] for m in diff.missing] == ["R1"]
    assert diff.unexpected == [f"{'f' * 32} R2 s1"]


def test_eta_rules_in_another_order_are_explained_not_lost() -> None:
    expected = _decisions()
    r3 = next(d for d in expected.values() if d.rule == "R3")
    committed = [d for d in expected.values() if d.rule != "R3"]
    consumed = {k: d for k, d in expected.items() if d.rule != "R3"}
    diff = compare(committed, by_consumed=consumed)
    assert diff.missing == []
    assert diff.order_explained == [f"{r3.decision_id} R3 s1 (not consumed order)"]


def test_r5_and_r7_are_checked_against_their_rules() -> None:
    base = next(iter(_decisions().values()))
    good_r5 = replace(base, decision_id="1" * 32, rule="R5", target_hub="RTM",
                      details={"hub": "AMS", "k": "3", "capacity": "2"})  # fmt: skip
    bad_r5 = replace(good_r5, decision_id="2" * 32, target_hub="AMS")
    early_r7 = replace(base, decision_id="3" * 32, rule="R7", event_occurred_at=T0 + 99 * H)
    late_r7 = replace(early_r7, decision_id="4" * 32, event_occurred_at=T0)
    diff = compare([good_r5, bad_r5, early_r7, late_r7], by_input={}, by_consumed={})
    assert len(diff.violations) == 2
    assert diff.violations[0].startswith("2" * 32) and diff.violations[1].startswith("3" * 32)
    assert T0 + 100 * H - T0 >= R7_SILENCE_MS
    # R5 ids nobody expected are unexpected too (they are recomputed from the updates)
    assert {u.split()[0] for u in diff.unexpected} == {"1" * 32, "2" * 32}


def test_a_lost_update_explains_nothing() -> None:
    expected = _decisions()
    committed = [d for d in expected.values() if d.rule != "R3"]
    consumed = {k: d for k, d in expected.items() if d.rule != "R3"}
    diff = compare(committed, by_consumed=consumed, incomplete=frozenset({"s1"}))
    assert [m.split()[1] for m in diff.missing] == ["R3"] and diff.order_explained == []
