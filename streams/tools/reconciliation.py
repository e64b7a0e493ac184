"""Nothing lost: every record of ``shipments.events`` is applied, a duplicate, or a dead letter.

The expected split is recomputed independently from the input topic (first occurrence of an
event id per shipment is applied, later ones are duplicates, undecodable or invalid records
must be in the DLQ) and compared with what the pipeline holds: the applied event ids in the
shipments table and the DLQ's ``source.offset`` headers. ``shipstream reconcile``, its
summary and the chaos verifier read the topics through ``compute``; which input records must
be applied is ``accept``'s verdict, the one processing applies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.agents.ingestion.validation import ValidationError
from streams.agents.processing.accept import accept
from streams.codecs.avro import AvroSerde
from streams.errors import DecodeError, ServiceUnavailable
from streams.kafka import reader
from streams.kafka.reader import Record
from streams.model import ShipmentEvent
from streams.settings import Settings
from streams.topics import DLQ, EVENTS, changelog_topic
from tables import shipments


@dataclass
class Reconciliation:
    """Counts, and the records that are not where they should be."""

    inputs: int = 0
    expected_applied: int = 0
    expected_duplicates: int = 0
    expected_dead: int = 0
    state_applied: int = 0
    dead_lettered: int = 0
    missing_from_state: list[str] = field(default_factory=list)
    unexpected_in_state: list[str] = field(default_factory=list)
    missing_from_dlq: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Records found neither applied, nor duplicate, nor dead-lettered."""
        return len(self.missing_from_state) + len(self.missing_from_dlq)

    @property
    def ok(self) -> bool:
        """Every input accounted for exactly once."""
        return self.lost == 0 and not self.unexpected_in_state

    def summary(self) -> str:
        """One line for humans and CI logs."""
        return (
            f"inputs={self.inputs} applied={self.expected_applied} "
            f"duplicates={self.expected_duplicates} dead_lettered={self.expected_dead} "
            f"state_applied={self.state_applied} lost={self.lost} "
            f"unexpected={len(self.unexpected_in_state)} -> {'OK' if self.ok else 'MISMATCH'}"
        )


def reconcile(
    inputs: Iterable[tuple[str, int, int, tuple[str, str] | None]],
    state_ids: Mapping[str, Iterable[str]],
    dlq_offsets: Iterable[tuple[int, int]],
) -> Reconciliation:
    """Compare inputs with the outcome.

    ``inputs``: (topic, partition, offset, (shipment_id, event_id) or None when the record
    cannot be valid); ``state_ids``: shipment_id -> applied event ids; ``dlq_offsets``:
    (partition, offset) of the input records dead-lettered by processing.
    """
    r = Reconciliation()
    dead = set(dlq_offsets)
    r.dead_lettered = len(dead)
    seen: set[tuple[str, str]] = set()
    for _topic, partition, offset, ident in inputs:
        r.inputs += 1
        if ident is None:
            r.expected_dead += 1
            if (partition, offset) not in dead:
                r.missing_from_dlq.append(f"{partition}@{offset}")
            continue
        if ident in seen:
            r.expected_duplicates += 1
            continue
        seen.add(ident)
        r.expected_applied += 1
    applied = {(sid, eid) for sid, ids in state_ids.items() for eid in ids}
    r.state_applied = len(applied)
    r.missing_from_state = sorted(f"{s}/{e}" for s, e in seen - applied)
    r.unexpected_in_state = sorted(f"{s}/{e}" for s, e in applied - seen)
    return r


def accepted_inputs(settings: Settings) -> Iterator[tuple[Record, ShipmentEvent | None]]:
    """Each input record, in offset order per partition, with the event processing accepts.

    The event is None for a record processing must dead-letter.
    """
    serde = AvroSerde(settings, EVENTS)
    for msg in reader.read_all(settings, settings.topic(EVENTS.name)):
        event: ShipmentEvent | None
        try:
            event = accept(serde, msg.key, msg.value, msg.timestamp_ms, settings.max_future_skew_ms)
        except (DecodeError, ValidationError):
            event = None
        yield msg, event


def table_values(settings: Settings, topic: str) -> dict[str, dict[str, Any]]:
    """The final JSON value per key of a table's changelog (tombstones remove the key)."""
    latest: dict[str, dict[str, Any]] = {}
    for msg in reader.read_all(settings, topic):
        key = (msg.key or b"").decode()
        if msg.value is None:
            latest.pop(key, None)
        else:
            latest[key] = json.loads(msg.value)
    return latest


def changelog_topics(settings: Settings) -> list[str]:
    """The shipments table's changelogs that exist: of processing workers and of `all` ones.

    ``shipstream bootstrap`` creates both up front, so both may exist; whichever the
    deployment used holds the state (reading both costs nothing when one is empty).
    """
    topics = reader.consumer(settings).list_topics(timeout=10).topics
    candidates = [changelog_topic(settings, role, shipments.NAME) for role in ("processing", "all")]
    names = [name for name in candidates if name in topics]
    if not names:
        msg = f"no changelog of the {shipments.NAME} table yet; has a processing worker run?"
        raise ServiceUnavailable(msg)
    return names


def _inputs(settings: Settings) -> Iterator[tuple[str, int, int, tuple[str, str] | None]]:
    for msg, event in accepted_inputs(settings):
        ident = (event.shipment_id, event.event_id) if event is not None else None
        yield msg.topic, msg.partition, msg.offset, ident


def _dlq_offsets(settings: Settings) -> Iterator[tuple[int, int]]:
    source = settings.topic(EVENTS.name)
    for msg in reader.read_all(settings, settings.topic(DLQ.name)):
        if msg.header("error.stage") == "processing" and msg.header("source.topic") == source:
            yield int(msg.header("source.partition") or -1), int(msg.header("source.offset") or -1)


def _state_ids(settings: Settings) -> dict[str, list[str]]:
    latest: dict[str, list[str]] = {}
    for topic in changelog_topics(settings):
        for key, value in table_values(settings, topic).items():
            latest[key] = value.get("seen_event_ids", [])
    return latest


def compute(settings: Settings) -> Reconciliation:
    """Read the input, the DLQ and the state's changelog, and compare."""
    return reconcile(_inputs(settings), _state_ids(settings), _dlq_offsets(settings))
