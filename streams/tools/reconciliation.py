"""Nothing lost: every record of ``shipments.events`` is applied, a duplicate, or a dead letter.

The expected split is recomputed independently from the input topic (first occurrence of an
event id per shipment is applied, later ones are duplicates, undecodable or invalid records
must be in the DLQ) and compared with what the pipeline holds: the applied event ids in the
shipments table and the DLQ's ``source.offset`` headers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


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
