"""Acking events in offset order while they complete in any order.

Deliveries run concurrently so a slow endpoint does not hold up the others, which means they
finish out of order. faust commits the contiguous run of acked offsets, but before a
partition's first commit it does not notice a gap at the head of that run (see
``Consumer._new_offset``: the check is skipped while the committed offset is unset or 0) — an
out-of-order ack there could commit past a delivery still in flight, and a crash would lose it
(the same family as faust-streaming #606). So this tracker acks an event only when every
earlier event of its partition has completed; a batch taken from a ``BatchSource``
(``BatchInFlight``) only when all its records and every batch taken before it have.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast


class Ackable(Protocol):
    """What the tracker needs of an event: its partition and a way to ack it."""

    def ack(self) -> bool:  # noqa: D102
        ...


@dataclass
class Entry:
    """One tracked event."""

    event: Ackable
    partition: Hashable
    done: bool = False


@dataclass
class InOrderAcker:
    """Acks each partition's events in the order they were tracked."""

    queues: dict[Hashable, deque[Entry]] = field(default_factory=dict)

    def track(self, event: Ackable, partition: Hashable) -> Entry:
        """Remember an event as in flight, in its partition's order."""
        entry = Entry(event, partition)
        self.queues.setdefault(partition, deque()).append(entry)
        return entry

    def done(self, entry: Entry) -> int:
        """Mark an event complete; ack the completed prefix of its partition. Returns acks."""
        entry.done = True
        queue = self.queues[entry.partition]
        acked = 0
        while queue and queue[0].done:
            queue.popleft().event.ack()
            acked += 1
        if not queue:
            del self.queues[entry.partition]
        return acked

    @property
    def in_flight(self) -> int:
        """Events tracked and not yet acked."""
        return sum(len(q) for q in self.queues.values())


class BatchSink(Protocol):
    """Where a batch is released: ``BatchSource.done``."""

    def done(self, batch: Any, *, ack: bool) -> None:  # noqa: D102
        ...


class BatchInFlight:
    """A taken batch whose records end one by one, in any order.

    It is acked (its offsets may be committed) once all its records have ended and every
    batch of the same source tracked before it has been acked.
    """

    __slots__ = ("_acker", "_entry", "batch", "left", "source")

    def __init__(self, source: BatchSink, batch: Any, records: int, acker: InOrderAcker) -> None:
        self.source = source
        self.batch = batch
        self.left = records
        self._acker = acker
        self._entry = acker.track(self, cast(Hashable, source))  # one queue per source

    def record_done(self) -> None:
        """One record has ended (delivered, dead-lettered): ack the batch after its last."""
        self.left -= 1
        if self.left == 0:
            self._acker.done(self._entry)

    def ack(self) -> bool:
        """Called by the acker, in take order."""
        self.source.done(self.batch, ack=True)
        return True
