"""What the pipeline should hold, recomputed from the input by the oracle, and how it differs.

Pure functions over plain data (no Kafka): the input, in offset order per partition, goes
through :mod:`ops.chaos.oracle` (SPEC's rules written apart from the agents' code), and its
states and decisions are compared with the ``shipments`` table and ``shipments.decisions``.
Decisions of R1-R4 and R6 follow from each shipment's own events and are compared exactly,
ETAs included, so an R4 sequence evaluated out of order shows as missing and unexpected
notices. R5 is checked per hub window against the oracle's bounds, R7 against its rule.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ops.chaos.oracle import HOUR, Expected, Oracle
from streams.model import Decision, Hub, ShipmentEvent

#: Rules whose decisions follow from one shipment's own events (R5 also depends on other
#: shipments' arrivals at the hub, R7 on the stream time of the whole partition).
OWN_ORDER_RULES = frozenset({"R1", "R2", "R3", "R4", "R6"})
R7_SILENCE_MS = 48 * HOUR


@dataclass
class Replayed:
    """The oracle after the whole input, and how many records must be dead-lettered."""

    oracle: Oracle
    invalid: int = 0

    @property
    def applied(self) -> int:
        """Records that must end applied to the state."""
        return self.oracle.accepted

    @property
    def duplicates(self) -> int:
        """Records that must be counted as duplicates."""
        return self.oracle.duplicates


def hub_dicts(hubs: Mapping[str, Hub]) -> dict[str, dict[str, Any]]:
    """The hub network as the oracle reads it (SPEC's field names)."""
    return {code: hub.to_avro() for code, hub in hubs.items()}


def replay(inputs: Iterable[ShipmentEvent | None], hubs: Mapping[str, Hub]) -> Replayed:
    """Feed the input (in offset order; None = a record that must be dead-lettered)."""
    out = Replayed(Oracle(hub_dicts(hubs)))
    for event in inputs:
        if event is None:
            out.invalid += 1
        else:
            out.oracle.add(event.to_json())
    return out


@dataclass
class StateDiff:
    """Expected states against the table's final values."""

    shipments: int = 0
    lost: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)


def compare_states(oracle: Oracle, actual: Mapping[str, Mapping[str, Any]]) -> StateDiff:
    """Lost: accepted ids missing from the table; extra: ids it should not have; mismatched:
    the same ids but another status, closed flag, latest hub scan, ETA or fact.
    """
    diff = StateDiff(shipments=len(oracle.shipments))
    for sid in sorted(set(oracle.shipments) | set(actual)):
        want = oracle.shipments.get(sid)
        have = actual.get(sid)
        want_ids = set() if want is None else want.seen
        have_ids = set() if have is None else set(have.get("seen_event_ids") or ())
        diff.lost.extend(f"{sid}/{e}" for e in sorted(want_ids - have_ids))
        diff.extra.extend(f"{sid}/{e}" for e in sorted(have_ids - want_ids))
        if want is None or have is None or want_ids != have_ids:
            continue
        expected = {
            "status": want.status,
            "closed": want.closed,
            "latest_hub": want.scan_hub,
            "latest_hub_at": want.scan_at,
            "eta": oracle.eta(want),
            "destination": want.destination,
            "promised_at": want.promised_at,
            "service_level": want.service_level,
        }
        fields = sorted(k for k, v in expected.items() if have.get(k) != v)
        if fields:
            diff.mismatched.append(f"{sid}: {','.join(fields)}")
    return diff


@dataclass
class DecisionDiff:
    """Committed decisions against the oracle's."""

    committed: int = 0
    distinct: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    #: decision_id -> how many times it was committed, for ids committed more than once
    duplicated: dict[str, int] = field(default_factory=dict)
    #: extra copies that equal the first one in everything but decided_at
    identical_copies: int = 0
    #: required by the oracle but not committed (R5: a hub window below its least count)
    missing: list[str] = field(default_factory=list)
    #: committed but not required (R5: over the most a window allows, or an ineligible arrival)
    unexpected: list[str] = field(default_factory=list)
    #: shipments whose R4 notices (their ETAs, in order) differ from the oracle's
    r4_sequences_differ: list[str] = field(default_factory=list)
    #: (hub, window) -> [committed, least, most] for every window with a possible reroute
    r5_windows: dict[str, list[int]] = field(default_factory=dict)
    #: R5/R7 decisions that break their own properties (target hub, number, silence)
    violations: list[str] = field(default_factory=list)


def _same_but_time(a: Decision, b: Decision) -> bool:
    return {**a.to_json(), "decided_at": 0} == {**b.to_json(), "decided_at": 0}


def _key(d: Decision) -> Expected:
    return Expected(d.shipment_id, d.rule, d.based_on_event_id, d.eta)


def compare_decisions(
    committed: list[Decision],
    oracle: Oracle,
    hubs: Mapping[str, Hub],
    stream_time: Mapping[int, int],
    partition_of: Callable[[str], int],
) -> DecisionDiff:
    """Check the committed decisions against the oracle and the rules' own properties.

    ``stream_time``: the greatest occurred_at per updates partition, what R7's silence is
    measured against; ``partition_of(shipment_id)`` its partition.
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

    own = [d for d in first.values() if d.rule in OWN_ORDER_RULES]
    want = Counter(oracle.decisions)
    have = Counter(_key(d) for d in own)
    diff.missing.extend(sorted(str(e) for e in (want - have).elements()))
    diff.unexpected.extend(sorted(str(e) for e in (have - want).elements()))
    diff.r4_sequences_differ = _r4_sequences(oracle.decisions, own)

    reroutes = [d for d in first.values() if d.rule == "R5"]
    _check_reroutes(diff, reroutes, oracle, hubs)
    for d in first.values():
        if d.rule == "R7":
            diff.violations.extend(_r7_problems(d, stream_time, partition_of))
    return diff


def _r4_sequences(expected: Iterable[Expected], own: Iterable[Decision]) -> list[str]:
    want: dict[str, list[int | None]] = defaultdict(list)
    for e in expected:
        if e.rule == "R4":
            want[e.shipment_id].append(e.eta)
    have: dict[str, list[int | None]] = defaultdict(list)
    for d in sorted(own, key=lambda d: d.eta or 0):
        if d.rule == "R4":
            have[d.shipment_id].append(d.eta)
    return sorted(sid for sid in set(want) | set(have) if want.get(sid) != have.get(sid))


def _check_reroutes(
    diff: DecisionDiff, reroutes: list[Decision], oracle: Oracle, hubs: Mapping[str, Hub]
) -> None:
    arrivals = {(a.shipment_id, a.event_id): a for a in oracle.arrivals}
    per_window: Counter[tuple[str, int]] = Counter()
    for d in reroutes:
        hub_code = d.details.get("hub", "")
        arrival = arrivals.get((d.shipment_id, d.based_on_event_id))
        if arrival is None or not arrival.eligible or arrival.hub != hub_code:
            diff.unexpected.append(f"{d.decision_id} R5 {d.shipment_id}: not an eligible arrival")
            continue
        per_window[(arrival.hub, arrival.window)] += 1
        hub = hubs.get(hub_code)
        k, cap = int(d.details.get("k", "0")), int(d.details.get("capacity", "0"))
        if hub is None or d.target_hub != hub.alternate:
            diff.violations.append(
                f"{d.decision_id} R5: target {d.target_hub} is not the alternate"
            )
        elif k <= cap or cap != hub.capacity_per_window:
            diff.violations.append(f"{d.decision_id} R5: arrival {k} within capacity {cap}")
    for (hub_code, window), (least, most) in sorted(oracle.reroute_bounds().items()):
        n = per_window.get((hub_code, window), 0)
        if most or n:
            diff.r5_windows[f"{hub_code}@{window}"] = [n, least, most]
        if n < least:
            diff.missing.extend([f"R5 {hub_code}@{window}: {n} of at least {least}"])
        elif n > most:
            diff.unexpected.extend([f"R5 {hub_code}@{window}: {n} of at most {most}"])


def _r7_problems(d: Decision, stream_time: Mapping[int, int], partition_of: Any) -> list[str]:
    now = stream_time.get(partition_of(d.shipment_id))
    if now is None or now - d.event_occurred_at < R7_SILENCE_MS:
        return [f"{d.decision_id} R7 {d.shipment_id}: escalated before 48 h of silence"]
    return []
