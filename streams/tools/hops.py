"""Where a run's decision latency went, hop by hop, read back from the topics.

The workers' histogram (``shipstream_decision_latency_seconds``) says how long ingestion to
decision took, in buckets; it cannot say where. Each record's own timestamp (set when it was
produced) can: an event's ``ingested_at``, the record that carried its update out of processing
(``shipments.hub-arrivals`` for an ARRIVED_HUB, ``shipments.updates`` for the rest), the hub
count's record on ``shipments.updates``, and the decision based on it. Found this way: a table
scan every 30 s that held the decision role ~0.5 s at a time (session 13).

Record times are taken when a record is produced, not when the broker acknowledged it, so the
end-to-end figure here is a little below the histogram's. R7 decisions are left out: they fire
on a shipment's silence, by design long after the event they are based on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from streams import messages
from streams.agents.decision.memory import Rule
from streams.codecs.avro import AvroSerde
from streams.kafka import reader
from streams.model import Decision
from streams.settings import Settings
from streams.topics import DECISIONS, HUB_ARRIVALS, UPDATES


@dataclass
class Marks:
    """Per event id: when it was ingested and when each hop's record carrying it was produced."""

    ingested: dict[str, int] = field(default_factory=dict)
    processed: dict[str, int] = field(default_factory=dict)  # its first record out of processing
    counted: dict[str, int] = field(default_factory=dict)  # ARRIVED_HUB: its counted update
    decided: dict[str, int] = field(default_factory=dict)  # the first decision based on it

    def add_update(
        self, update: messages.EventUpdate, timestamp_ms: int, *, hub_topic: bool
    ) -> None:
        """An update read from ``shipments.hub-arrivals`` (``hub_topic``) or ``.updates``."""
        event_id = update.event.event_id
        if update.ingested_at is not None:
            self.ingested.setdefault(event_id, update.ingested_at)
        if hub_topic or update.arrival is None:
            self.processed.setdefault(event_id, timestamp_ms)
        else:
            self.counted.setdefault(event_id, timestamp_ms)


@dataclass(frozen=True)
class Hop:
    """Milliseconds a hop took: how many events went through it, median, 99th percentile, max."""

    count: int
    p50_ms: int
    p99_ms: int
    max_ms: int


def nearest_rank(sorted_ms: list[int], q: float) -> int:
    """The q-quantile of sorted values by nearest rank (the value at rank ceil(q * n))."""
    rank = max(1, math.ceil(round(q * len(sorted_ms), 9)))
    return sorted_ms[rank - 1]


def _hop(starts: Mapping[str, int], ends: Mapping[str, int]) -> Hop | None:
    spans = sorted(ends[e] - starts[e] for e in ends.keys() & starts.keys())
    if not spans:
        return None
    return Hop(len(spans), nearest_rank(spans, 0.5), nearest_rank(spans, 0.99), spans[-1])


def hops(marks: Marks) -> dict[str, Hop | None]:
    """Each hop's figures (None for a hop no event went through)."""
    # The decision role reads an ARRIVED_HUB's counted update, every other event's first one.
    read_by_decision = {**marks.processed, **marks.counted}
    return {
        "processing": _hop(marks.ingested, marks.processed),
        "hub_count": _hop(marks.processed, marks.counted),
        "decision": _hop(read_by_decision, marks.decided),
        "ingested_to_decision": _hop(marks.ingested, marks.decided),
    }


def _since(records: Iterable[reader.Record], since_ms: int) -> Iterable[reader.Record]:
    return (r for r in records if r.timestamp_ms >= since_ms and r.value is not None)


def read_decisions(settings: Settings, since_ms: int) -> list[tuple[int, Decision]]:
    """Every decision produced since ``since_ms``, with its record time (R7 included)."""
    serde = AvroSerde(settings, DECISIONS)
    records = _since(reader.read_all(settings, settings.topic(DECISIONS.name)), since_ms)
    return [(r.timestamp_ms, serde.decode_as(r.value, Decision)) for r in records]


def read(settings: Settings, since_ms: int, decisions: Iterable[tuple[int, Decision]]) -> Marks:
    """The marks of every update produced since ``since_ms``, and of ``decisions``."""
    marks = Marks()
    for topic, hub_topic in ((HUB_ARRIVALS, True), (UPDATES, False)):
        for record in _since(reader.read_all(settings, settings.topic(topic.name)), since_ms):
            try:
                batch = messages.decode_batch(record.value or b"")
            except messages.MessageError:
                continue  # not ours (the decision role dead-letters it): no hop to time
            for message in batch:
                if isinstance(message, messages.EventUpdate):
                    marks.add_update(message, record.timestamp_ms, hub_topic=hub_topic)
    for timestamp_ms, decision in decisions:
        if decision.rule != Rule.R7:  # fires on silence (see the module docstring)
            marks.decided.setdefault(decision.based_on_event_id, timestamp_ms)
    return marks
