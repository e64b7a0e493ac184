"""The invariants of SPEC's "Nothing lost" and "Delivery of decisions", read from the topics.

Every topic is read with ``isolation.level=read_committed`` (``streams.kafka.reader``), so
what an aborted transaction wrote does not count. The expected outcome is recomputed from the
input topic alone (``expect``); the pipeline's own tables are only what is being checked.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from ops.chaos import expect
from ops.chaos.config import hub_network
from streams import messages
from streams.codecs.avro import AvroSerde
from streams.errors import Reason
from streams.kafka import reader
from streams.kafka.partitioner import partition_for
from streams.model import ActionResult, Decision, Hub, ShipmentEvent
from streams.settings import Settings
from streams.tools import reconciliation
from streams.topics import ACTIONS, DECISIONS, DLQ, UPDATES, changelog_topic
from tables import shipments

log = logging.getLogger(__name__)

#: Lists in the JSON result are cut to this many examples (counts stay exact).
EXAMPLES = 20


def chaos_hubs() -> dict[str, Hub]:
    """The hub network the chaos stack publishes."""
    return {h["code"]: Hub.from_avro(h) for h in hub_network()}


def read_inputs(settings: Settings) -> Iterator[ShipmentEvent | None]:
    """The input in offset order per partition; None for a record processing must dead-letter."""
    return (event for _msg, event in reconciliation.accepted_inputs(settings))


def read_table(settings: Settings, role: str = "processing") -> dict[str, dict[str, Any]]:
    """The final value per key of the ``shipments`` table's changelog."""
    return reconciliation.table_values(settings, changelog_topic(settings, role, shipments.NAME))


@dataclass
class Consumed:
    """What the decision agent consumed: the updates topic, in its order."""

    updates: list[messages.EventUpdate] = field(default_factory=list)
    per_event: Counter[str] = field(default_factory=Counter)
    stream_time: dict[int, int] = field(default_factory=dict)
    ticks: int = 0


def read_updates(settings: Settings) -> Consumed:
    """Updates (and R7 ticks) of ``shipments.updates`` as committed."""
    out = Consumed()
    for msg in reader.read_all(settings, settings.topic(UPDATES.name)):
        for update in messages.decode_batch(msg.value or b""):
            if not isinstance(update, messages.EventUpdate):
                out.ticks += 1
                continue
            out.updates.append(update)
            event = update.event
            out.per_event[f"{event.shipment_id}/{event.event_id}"] += 1
            previous = out.stream_time.get(msg.partition, 0)
            out.stream_time[msg.partition] = max(previous, event.occurred_at)
    return out


def read_decisions(settings: Settings) -> list[Decision]:
    """Every committed decision, duplicates included."""
    serde = AvroSerde(settings, DECISIONS)
    records = reader.read_all(settings, settings.topic(DECISIONS.name))
    return [Decision.from_avro(serde.decode(r.value)) for r in records]


def read_actions(settings: Settings) -> list[ActionResult]:
    """Every committed delivery outcome."""
    serde = AvroSerde(settings, ACTIONS)
    records = reader.read_all(settings, settings.topic(ACTIONS.name))
    return [ActionResult.from_avro(serde.decode(r.value)) for r in records]


def dlq_reasons(settings: Settings) -> Counter[str]:
    """DLQ records by ``stage/reason``."""
    counts: Counter[str] = Counter()
    for msg in reader.read_all(settings, settings.topic(DLQ.name)):
        counts[f"{msg.header('error.stage')}/{msg.header('error.reason')}"] += 1
    return counts


@dataclass
class Verdict:
    """Everything checked, with the three numbers of the result line."""

    inputs: dict[str, int]
    state: expect.StateDiff
    decisions: expect.DecisionDiff
    updates_missing: list[str]
    updates_repeated: int
    dlq_missing: list[str]
    dlq: dict[str, int]
    undelivered: list[str]
    phantom_actions: list[str]
    actions_by_status: dict[str, int]
    endpoint: dict[str, Any]

    @property
    def internal_errors(self) -> int:
        """Records some stage dead-lettered because it failed on them (a bug, not bad input)."""
        return sum(n for k, n in self.dlq.items() if k.endswith("/" + Reason.INTERNAL_ERROR))

    @property
    def keys_applied_twice(self) -> list[str]:
        """Idempotency keys the endpoint applied more than once."""
        return list(self.endpoint.get("keys_applied_twice") or [])

    @property
    def lost(self) -> int:
        """Applied events missing from the state or from the updates, bad records missing from
        the DLQ, required decisions never committed, committed decisions never delivered.
        """
        return (
            len(self.state.lost)
            + len(self.updates_missing)
            + len(self.dlq_missing)
            + len(self.decisions.missing)
            + len(self.undelivered)
        )

    @property
    def duplicated(self) -> int:
        """Event ids in the state that were never valid input, extra commits of a decision id,
        idempotency keys applied twice by the endpoint.
        """
        extra_commits = sum(n - 1 for n in self.decisions.duplicated.values())
        return len(self.state.extra) + extra_commits + len(self.keys_applied_twice)

    @property
    def mismatched(self) -> int:
        """States that differ with the same events, decisions no order explains, R5/R7
        decisions breaking their rule, actions of uncommitted decisions, internal errors.
        """
        return (
            len(self.state.mismatched)
            + len(self.decisions.unexpected)
            + len(self.decisions.violations)
            + len(self.phantom_actions)
            + self.internal_errors
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with long lists cut to examples."""

        def cut(value: Any) -> Any:
            if isinstance(value, list) and len(value) > EXAMPLES:
                return [*value[:EXAMPLES], f"... {len(value) - EXAMPLES} more"]
            if isinstance(value, dict):
                if len(value) > EXAMPLES:
                    items = list(value.items())[:EXAMPLES]
                    return {**dict(items), "...": f"{len(value) - EXAMPLES} more"}
                return {k: cut(v) for k, v in value.items()}
            return value

        counts = {
            "lost": self.lost,
            "duplicated": self.duplicated,
            "mismatched": self.mismatched,
            "internal_errors": self.internal_errors,
            "decision_ids_committed_twice": len(self.decisions.duplicated),
            "keys_applied_twice": len(self.keys_applied_twice),
        }
        body = {
            "inputs": self.inputs,
            "state": asdict(self.state),
            "decisions": asdict(self.decisions),
            "updates_missing": self.updates_missing,
            "updates_repeated": self.updates_repeated,
            "dlq_missing": self.dlq_missing,
            "dlq": self.dlq,
            "undelivered": self.undelivered,
            "phantom_actions": self.phantom_actions,
            "actions_by_status": self.actions_by_status,
            "endpoint": {k: v for k, v in self.endpoint.items() if k != "by_path"},
        }
        parts: dict[str, Any] = {k: v for k, v in body.items() if k not in ("inputs", "endpoint")}
        for name in ("state", "decisions"):
            parts.update({f"{name}.{k}": v for k, v in parts.pop(name).items()})
        sizes = {k: len(v) for k, v in parts.items() if isinstance(v, list | dict)}
        return {"counts": counts, "sizes": sizes, **{k: cut(v) for k, v in body.items()}}


def verify(settings: Settings, endpoint: dict[str, Any]) -> Verdict:
    """Read everything back and compare; ``endpoint`` is its ``GET /received``."""
    hubs = chaos_hubs()
    expected = expect.replay(read_inputs(settings), hubs)
    oracle = expected.oracle
    log.info(
        "input replayed: %d applied, %d duplicates, %d invalid, %d shipments",
        expected.applied,
        expected.duplicates,
        expected.invalid,
        len(oracle.shipments),
    )
    state = expect.compare_states(oracle, read_table(settings))
    consumed = read_updates(settings)
    applied_ids = {f"{sid}/{e}" for sid, s in oracle.shipments.items() for e in s.seen}
    updates_missing = sorted(applied_ids - set(consumed.per_event))
    decisions = read_decisions(settings)
    n = settings.partitions
    diff = expect.compare_decisions(
        decisions, oracle, hubs, consumed.stream_time, lambda sid: partition_for(sid, n)
    )
    committed_ids = {d.decision_id for d in decisions}
    actions = read_actions(settings)
    acted = {a.decision_id for a in actions}
    rec = reconciliation.compute(settings)
    return Verdict(
        inputs={
            "records": expected.applied + expected.duplicates + expected.invalid,
            "applied": expected.applied,
            "duplicates": expected.duplicates,
            "invalid": expected.invalid,
            "shipments": len(oracle.shipments),
            "updates_consumed": len(consumed.updates),
            "ticks": consumed.ticks,
        },
        state=state,
        decisions=diff,
        updates_missing=updates_missing,
        updates_repeated=sum(k - 1 for k in consumed.per_event.values() if k > 1),
        dlq_missing=list(rec.missing_from_dlq),
        dlq=dict(sorted(dlq_reasons(settings).items())),
        undelivered=sorted(committed_ids - acted),
        phantom_actions=sorted(acted - committed_ids),
        actions_by_status=dict(Counter(a.status.value for a in actions)),
        endpoint=endpoint,
    )
