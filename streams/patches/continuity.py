"""Each partition's records reach its batch agent as one unbroken run from the committed offset.

Why: a shipment's events must be applied in their partition's order. faust's fetcher loop drops
fetched records in several places and counts on a later seek to read them again — a partition
that left the active set between the fetch and its delivery, a fetch that returned across a
seek or a rebalance — while aiokafka's position has already moved past them. When the records
after them are delivered first, the shipment's later events are applied before its earlier
ones; the commit guard (``offset_guard``) only sees the hole at a commit and has the partition
read again ``HOLE_GRACE_S`` later, by when decisions were taken on the wrong state (chaos run
chaos1796097004: ``events[5]`` 503..620 applied after 621.., 15 decisions on states missing
their hub scans).

The rule, per partition of a batch topic, in the fetcher loop (``batch_delivery``):

- a partition has a *base* only once its position is known in the current assignment: faust's
  seek to the committed offsets (``perform_seek``; a partition without one starts where the
  reset policy says, the log's first offset), or another seek through faust; until then
  nothing of it is delivered (aiokafka may hold records fetched from where it was, and does not
  move a partition without a committed offset at faust's seek: chaos run chaos1796105364 lost
  the first events of 11 shipments when the first version took such a partition's first
  delivery as its base);
- each fetch carries the offsets it covered (``[start, end)``, from aiokafka's fetcher: records,
  transaction markers and compacted-away offsets alike, :class:`Covered`);
- a fetch that starts at the expected offset is delivered and moves it to its end; one that
  starts before it is a replay: its records below are dropped; one that starts past it means
  records were fetched and never delivered: none of it is delivered and the partition is read
  again from the expected offset (:meth:`Continuity.admit` returns that offset);
- a hole that stays after ``MAX_READS_AGAIN`` reads is a part of the log that is gone
  (retention): the partition goes on from where the log goes on, logged as an error and
  counted (``shipstream_delivery_holes_given_up_total``).

Whatever faust or a later change drops on the way, the next fetch shows it, and nothing after
a dropped record is handed to an agent before it.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: Reads again of one hole before it is taken for records the log no longer has.
MAX_READS_AGAIN = 5
#: In the warning of a read again (the chaos harness counts it in the workers' logs).
READ_AGAIN_MARK = "were fetched and not delivered"

Key = tuple[str, int]  # faust's TP is a NamedTuple of the same fields: they compare equal


class Covered(list[Any]):
    """The records one fetch returned, with the offsets it covered: ``[start, end)``."""

    __slots__ = ("end", "start")

    start: int
    end: int


class Buffer(Protocol):
    """Something holding delivered records not yet taken (a ``BatchSource``)."""

    def drop(self, key: Key) -> None:
        """Forget the buffered records of a partition (it is read again)."""


class Continuity:
    """Per-partition expected offsets of the batch topics' deliveries.

    ``covered`` runs in faust's consumer thread (aiokafka's loop); everything else in the
    worker's event loop.
    """

    def __init__(self) -> None:
        #: The offset the next delivery of a partition must start at.
        self._next: dict[Key, int] = {}
        self._holes: dict[Key, tuple[int, int]] = {}
        #: Offsets a fetch covered without returning records, merged with the next fetch.
        self._empty: dict[Key, tuple[int, int]] = {}
        self._buffers: weakref.WeakSet[Any] = weakref.WeakSet()
        self.reads_again = 0
        self.given_up = 0

    # -- consumer thread --------------------------------------------------------------

    def covered(self, key: Key, start: int, end: int, records: list[Any]) -> list[Any]:
        """What a fetch returned, as a :class:`Covered` (an empty fetch is remembered)."""
        empty = self._empty.pop(key, None)
        if empty is not None and empty[1] == start:
            start = empty[0]
        if not records:
            self._empty[key] = (start, end)
            return records
        out = Covered(records)
        out.start = start
        out.end = end
        return out

    # -- event loop -------------------------------------------------------------------

    def watch(self, buffer: Buffer) -> None:
        """Have ``buffer`` forget a partition's records whenever the partition is sought."""
        self._buffers.add(buffer)

    def unbase(self, keys: Any) -> None:
        """Deliver nothing of ``keys`` until they are based again (a seek is on its way)."""
        for key in keys:
            self._next.pop(key, None)
            self._holes.pop(key, None)

    def base(self, key: Key, offset: int) -> None:
        """The partition was sought to ``offset``: its next delivery starts there."""
        self._next[key] = offset
        self._holes.pop(key, None)
        for buffer in list(self._buffers):
            buffer.drop(key)

    def forget(self, key: Key) -> None:
        """The partition was revoked."""
        self.unbase((key,))

    def expected(self, key: Key) -> int | None:
        """The offset the next delivery of ``key`` must start at (None: not based)."""
        return self._next.get(key)

    def admit(self, key: Key, records: Sequence[Any]) -> tuple[Sequence[Any], int | None]:
        """The records of one fetch to deliver, and the offset to read from again (or None)."""
        if key not in self._next:
            return (), None  # not based: faust's seek reads them again
        expected = self._next[key]
        start = getattr(records, "start", None)
        end = getattr(records, "end", None)
        if start is None or end is None:  # not from aiokafka's fetcher (tests, other paths)
            start, end = records[0].offset, records[-1].offset + 1
        if start > expected:
            return self._hole(key, expected, start, end, records)
        self._holes.pop(key, None)
        if start < expected:
            records = [r for r in records if r.offset >= expected]
        if end > expected:
            self._next[key] = end
        return records, None

    def not_read_again(self, key: Key) -> None:
        """The seek that was to read a hole again failed: it does not count as a read."""
        hole = self._holes.get(key)
        if hole is not None:
            self._holes[key] = (hole[0], max(0, hole[1] - 1))

    def _hole(
        self, key: Key, expected: int, start: int, end: int, records: Sequence[Any]
    ) -> tuple[Sequence[Any], int | None]:
        seen, reads = self._holes.get(key, (expected, 0))
        reads = reads + 1 if seen == expected else 1
        if reads <= MAX_READS_AGAIN:
            self._holes[key] = (expected, reads)
            self.reads_again += 1
            log.warning(
                "%s[%d]: a fetch starts at offset %d, the next record to deliver is %d; "
                "offsets %d..%d %s: reading them again first",
                key[0],
                key[1],
                start,
                expected,
                expected,
                start - 1,
                READ_AGAIN_MARK,
            )
            return (), expected
        self._holes.pop(key, None)
        self.given_up += 1
        log.error(
            "%s[%d]: offsets %d..%d are not in the log any more (read %d times, the fetcher "
            "starts at %d each time, retention?): going on from %d. Those records were never "
            "processed; if they should have been, raise the topic's retention",
            key[0],
            key[1],
            expected,
            start - 1,
            MAX_READS_AGAIN,
            start,
            start,
        )
        self._next[key] = end
        return records, None


STATE = Continuity()
