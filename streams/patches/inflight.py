"""Acking events in offset order while they complete in any order.

Deliveries run concurrently so a slow endpoint does not hold up the others, which means they
finish out of order. faust commits the contiguous run of acked offsets, but before a
partition's first commit it does not notice a gap at the head of that run (see
``Consumer._new_offset``: the check is skipped while the committed offset is unset or 0) — an
out-of-order ack there could commit past a delivery still in flight, and a crash would lose it
(the same family as faust-streaming #606). So this tracker acks an event only when every
earlier event of its partition has completed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Protocol


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
