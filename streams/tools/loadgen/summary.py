"""What a generated stream should produce downstream, counted as the items go out.

Counting happens on the items actually handed to the sink (wrap the iterator with
``counted``), so a run cut short by a count or a duration still reconciles exactly: every
valid item should end applied, every duplicate counted as one, every malformed item
dead-lettered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from streams.tools.loadgen.items import Fate, Item, ItemKind


@dataclass(slots=True)
class StreamSummary:
    """Counts of a generated stream, by kind and by what they are expected to cause."""

    by_kind: Counter[str] = field(default_factory=Counter)
    by_event_type: Counter[str] = field(default_factory=Counter)
    by_defect: Counter[str] = field(default_factory=Counter)
    #: Planned fate of each shipment whose CREATED event was sent.
    shipments_by_fate: Counter[str] = field(default_factory=Counter)
    #: Shipments planned late, by service level: each should draw R3 (EXPRESS) or R4
    #: (STANDARD) once its late scan is sent, unless it was closed first.
    late_by_service_level: Counter[str] = field(default_factory=Counter)
    out_of_order: int = 0

    def add(self, item: Item) -> None:
        """Count one item."""
        self.by_kind[item.kind] += 1
        if item.defect is not None:
            self.by_defect[item.defect] += 1
        if item.kind is not ItemKind.VALID:
            return
        event = item.event
        self.by_event_type[event["event_type"]] += 1
        self.out_of_order += item.out_of_order
        if event["event_type"] == "CREATED" and item.fate is not None:
            self.shipments_by_fate[item.fate] += 1
            if item.fate is Fate.LATE:
                self.late_by_service_level[event["service_level"]] += 1

    @property
    def total(self) -> int:
        """Items sent, of every kind."""
        return sum(self.by_kind.values())

    @property
    def valid(self) -> int:
        """Events the pipeline should apply to state."""
        return self.by_kind[ItemKind.VALID]

    @property
    def duplicates(self) -> int:
        """Re-sent events the pipeline should count as duplicates."""
        return self.by_kind[ItemKind.DUPLICATE]

    @property
    def malformed(self) -> int:
        """Records the pipeline should dead-letter."""
        return self.by_kind[ItemKind.MALFORMED_JSON] + self.by_kind[ItemKind.MALFORMED_BYTES]

    def expected(self) -> dict[str, int]:
        """SPEC's three outcomes ("nothing lost"): applied, duplicate, dead-lettered."""
        return {
            "applied": self.valid,
            "duplicates": self.duplicates,
            "dead_lettered": self.malformed,
        }

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready, for a demo's report."""
        return {
            "total": self.total,
            "expected": self.expected(),
            "by_kind": dict(self.by_kind),
            "by_event_type": dict(self.by_event_type),
            "by_defect": dict(self.by_defect),
            "shipments_by_fate": dict(self.shipments_by_fate),
            "late_by_service_level": dict(self.late_by_service_level),
            "out_of_order": self.out_of_order,
        }


def counted(items: Iterable[Item], summary: StreamSummary) -> Iterator[Item]:
    """Pass items through, counting each as it is taken (the driver takes only what it sends)."""
    for item in items:
        summary.add(item)
        yield item


def summarize(items: Iterable[Item]) -> StreamSummary:
    """Count a finite collection of items."""
    summary = StreamSummary()
    for item in items:
        summary.add(item)
    return summary
