"""What the pipeline should hold, recomputed without it, and how its output differs.

Pure functions over plain data (no Kafka): the input replayed per shipment in offset order
through the same reducer gives each shipment's state; the rules run over those updates give
the decisions that depend on one shipment's own events. ``verify`` feeds them from the topics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.agents.decision import rules
from streams.agents.decision.memory import DecisionMemory
from streams.agents.processing import reducer
from streams.model import Decision, Hub, ShipmentEvent

#: Rules whose decisions follow from one shipment's own event order (SPEC: R5 depends on other
#: shipments' arrivals at the hub, R7 on the stream time of the whole partition).
OWN_ORDER_RULES = frozenset({"R1", "R2", "R3", "R4", "R6"})
#: Of those, the rules that read the ETA, which an ARRIVED_HUB update can change. Those updates
#: reach the decision agent through the hub repartition, so one can arrive after the next event
#: of its shipment: R3/R4 then see the ETAs in another order than the input's.
ETA_RULES = frozenset({"R3", "R4"})


@dataclass
class Expected:
    """The input replayed: final states and the applied updates per shipment, in order."""

    states: dict[str, reducer.ShipmentState] = field(default_factory=dict)
    updates: dict[str, list[rules.Update]] = field(default_factory=dict)
    applied: int = 0
    duplicates: int = 0
    invalid: int = 0


def replay(inputs: Iterable[ShipmentEvent | None], hubs: Mapping[str, Hub]) -> Expected:
    """Fold the input (in offset order; None = a record that must be dead-lettered)."""
    out = Expected()
    for event in inputs:
        if event is None:
            out.invalid += 1
            continue
        sid = event.shipment_id
        result = reducer.apply(out.states.get(sid), event, hubs)
        if result.outcome is reducer.Outcome.DUPLICATE:
            out.duplicates += 1
            continue
        out.applied += 1
        out.states[sid] = result.state
        update = rules.Update(event=event, state=result.state, older=result.older)
        out.updates.setdefault(sid, []).append(update)
    return out


def decide(
    updates: Iterable[rules.Update], keep: frozenset[str] | None = None
) -> dict[str, Decision]:
    """Decisions of ``rules.evaluate`` over updates (by id), optionally of some rules only.

    ``decided_at`` is wall clock in the agent and never part of an id, so 0 is as good here.
    """
    memories: dict[str, DecisionMemory] = {}
    out: dict[str, Decision] = {}
    for update in updates:
        sid = update.event.shipment_id
        taken, memories[sid] = rules.evaluate(update, memories.get(sid), 0)
        for d in taken:
            if keep is None or d.rule in keep:
                out.setdefault(d.decision_id, d)
    return out


@dataclass
class StateDiff:
    """Expected states against the table's final values."""

    shipments: int = 0
    lost: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)


_IGNORED_FIELDS = ("seen_event_ids", "event_count")


def compare_states(
    expected: Mapping[str, reducer.ShipmentState], actual: Mapping[str, Mapping[str, Any]]
) -> StateDiff:
    """Lost: applied ids missing from the table; extra: ids it should not have; mismatched:
    the same ids but another status, closed flag, latest hub, ETA or fact.
    """
    diff = StateDiff(shipments=len(expected))
    for sid in sorted(set(expected) | set(actual)):
        want = expected.get(sid)
        have = actual.get(sid)
        want_ids = set() if want is None else set(want.seen_event_ids)
        have_ids = set() if have is None else set(have.get("seen_event_ids") or ())
        diff.lost.extend(f"{sid}/{e}" for e in sorted(want_ids - have_ids))
        diff.extra.extend(f"{sid}/{e}" for e in sorted(have_ids - want_ids))
        if want is None or have is None or want_ids != have_ids:
            continue
        want_json = want.to_json()
        fields = sorted(
            k for k in want_json if k not in _IGNORED_FIELDS and have.get(k) != want_json[k]
        )
        if fields:
            diff.mismatched.append(f"{sid}: {','.join(fields)}")
    return diff


@dataclass
class DecisionDiff:
    """Committed decisions against the recomputed ones."""

    committed: int = 0
    distinct: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    #: decision_id -> how many times it was committed, for ids committed more than once
    duplicated: dict[str, int] = field(default_factory=dict)
    #: extra copies that equal the first one in everything but decided_at
    identical_copies: int = 0
    #: expected (R1-R4, R6 from the input order; R5 from the consumed updates) but not committed
    missing: list[str] = field(default_factory=list)
    #: committed, of a rule that can be recomputed, but expected by neither order
    unexpected: list[str] = field(default_factory=list)
    #: R3/R4 ids that differ from the input order but match the order the agent consumed
    order_explained: list[str] = field(default_factory=list)
    #: R5/R7 decisions that break their own properties (target hub, silence)
    violations: list[str] = field(default_factory=list)


def _same_but_time(a: Decision, b: Decision) -> bool:
    return {**a.to_json(), "decided_at": 0} == {**b.to_json(), "decided_at": 0}


def compare_decisions(
    committed: list[Decision],
    by_input: Mapping[str, Decision],
    by_consumed: Mapping[str, Decision],
    hubs: Mapping[str, Hub],
    stream_time: Mapping[int, int],
    partition_of: Any,
    incomplete: frozenset[str] = frozenset(),
) -> DecisionDiff:
    """Check the committed decisions.

    ``by_input``: R1-R4/R6 from the input order. ``by_consumed``: R1-R6 from the updates the
    decision agent consumed, in its order (None of R7). ``stream_time``: the greatest
    occurred_at per updates partition, what R7's silence is measured against;
    ``partition_of(shipment_id)`` its partition. ``incomplete``: shipments with an applied
    event whose update never reached the agent; their order explains nothing.
    """
    diff = DecisionDiff(committed=len(committed))
    first: dict[str, Decision] = {}
    counts: Counter[str] = Counter()
    for d in committed:
        counts[d.decision_id] += 1
        if d.decision_id in first:
            diff.identical_copies += _same_but_time(first[d.decision_id], d)
        else:
            first[d.decision_id] = d
    diff.distinct = len(first)
    diff.by_rule = dict(sorted(Counter(d.rule for d in first.values()).items()))
    diff.duplicated = {k: n for k, n in sorted(counts.items()) if n > 1}
    for did, d in sorted(by_input.items()):
        if did in first:
            continue
        if d.rule in ETA_RULES and did not in by_consumed and d.shipment_id not in incomplete:
            diff.order_explained.append(f"{did} {d.rule} {d.shipment_id} (not consumed order)")
        else:
            diff.missing.append(f"{did} {d.rule} {d.shipment_id}")
    for did, d in sorted(by_consumed.items()):
        if did not in first and did not in by_input and d.rule == "R5":
            diff.missing.append(f"{did} R5 {d.shipment_id}")
    for did, d in sorted(first.items()):
        if d.rule == "R7":
            diff.violations.extend(_r7_problems(d, stream_time, partition_of))
            continue
        if d.rule == "R5":
            diff.violations.extend(_r5_problems(d, hubs))
        if did in by_input or did in by_consumed:
            if did not in by_input and d.rule in ETA_RULES:
                diff.order_explained.append(f"{did} {d.rule} {d.shipment_id} (consumed order)")
            continue
        diff.unexpected.append(f"{did} {d.rule} {d.shipment_id}")
    return diff


def _r5_problems(d: Decision, hubs: Mapping[str, Hub]) -> list[str]:
    hub = hubs.get(d.details.get("hub", ""))
    if hub is None or d.target_hub != hub.alternate:
        return [f"{d.decision_id} R5 {d.shipment_id}: target {d.target_hub} is not the alternate"]
    k, cap = int(d.details.get("k", "0")), int(d.details.get("capacity", "0"))
    if k <= cap:
        return [f"{d.decision_id} R5 {d.shipment_id}: arrival {k} within capacity {cap}"]
    return []


def _r7_problems(d: Decision, stream_time: Mapping[int, int], partition_of: Any) -> list[str]:
    now = stream_time.get(partition_of(d.shipment_id))
    if now is None or now - d.event_occurred_at < rules.R7_SILENCE_MS:
        return [f"{d.decision_id} R7 {d.shipment_id}: escalated before 48 h of silence"]
    return []
