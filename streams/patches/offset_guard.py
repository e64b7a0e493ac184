"""Commits that never pass a record nobody processed: a patch we carry for faust 0.15.3.

faust commits, per partition, the first run of consecutive offsets made of the offsets its
streams acked plus "gaps", offsets it believes hold no record. It *infers* a gap whenever the
next record it reads is more than one past the last one it read (``_drain_messages``), and that
bookkeeping goes stale:

- after a rebalance, stream partitions resume *before* ``perform_seek`` re-reads the committed
  offsets, so records handed out in between make the first record after the seek look like a
  jump; the chaos harness saw 370 records of one partition committed and never processed
  (run chaos1795628789, shipments.events[6] 4531..4900, right after a restart);
- a flow stop can advance the read offset past a record the stream never got;
- the record that reveals a jump is counted as done before it is processed;
- before the committed offset of a newly assigned partition is known, faust commits acked
  offsets from an unknown base, and it accepts a head that starts one past the committed
  offset (``min(acked) - committed > 1``), so a single skipped record passes unnoticed.

The guard replaces inference with proof. aiokafka's fetcher knows exactly which offsets a fetch
covered; whatever it covered and did not return (transaction markers, aborted or compacted-away
records) is a real gap. A wrapper on ``FetchResult.getall`` records those, and only those reach
faust's gap tree; faust's own inference is switched off. A partition commits nothing until its
committed offset is known in the current assignment. A hole at the head (the committed offset
is neither acked nor a proven gap, while later offsets are acked) means a record was skipped:
the commit waits, and after ``HOLE_GRACE_S`` the partition is seeked back to the committed
offset so the skipped records are delivered again (every agent here is idempotent under
replay). Acked offsets are de-duplicated too: faust's gap merge can insert an offset twice, and
its consecutive-run scan then advances the commit by one offset per commit interval.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import aiokafka
import faust
from aiokafka.consumer.fetcher import FetchResult
from faust.transport.consumer import Consumer, ThreadDelegateConsumer

from streams.patches import continuity

log = logging.getLogger(__name__)

#: The versions whose internals this patch was written against and proven on (make chaos).
PROVEN_ON = {"faust": "0.15.3", "aiokafka": "0.14.0"}

#: Seconds a head hole may last before the partition is delivered again from the commit.
HOLE_GRACE_S = 10.0
#: Proven gaps kept per partition between commits; past it the oldest half is dropped (a gap
#: forgotten only costs a redelivery, after which the fetcher proves it again).
MAX_GAPS_PER_PARTITION = 10_000

#: In the warning of a redelivery (the chaos harness counts it in the workers' logs).
SKIPPED_MARK = "were skipped by the consumer"

Interval = tuple[int, int]
Key = tuple[str, int]


def uncovered(start: int, end: int, offsets: Iterable[int]) -> list[Interval]:
    """Half-open intervals of ``[start, end)`` holding none of ``offsets`` (ascending)."""
    gaps: list[Interval] = []
    cursor = start
    for offset in offsets:
        if offset > cursor:
            gaps.append((cursor, min(offset, end)))
        cursor = max(cursor, offset + 1)
    if end > cursor:
        gaps.append((cursor, end))
    return [(a, b) for a, b in gaps if a < b]


def head_hole(committed: int | None, acked: list[int], gaps: Iterable[Interval]) -> bool:
    """True when later offsets are acked but ``committed`` itself is neither acked nor a gap."""
    if committed is None or not acked or acked[0] <= committed:
        return False
    return not any(a <= committed < b for a, b in gaps)


class ProvenGaps:
    """Per-partition offsets the fetcher skipped on purpose.

    Written by faust's consumer thread (where aiokafka runs), read by the main one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gaps: dict[Key, list[Interval]] = defaultdict(list)
        #: Partitions whose offsets are committed from acks (not changelogs, which faust
        #: tracks by itself and which, compacted, would fill this with holes).
        self._wanted: set[Key] = set()

    def want(self, key: Key) -> None:
        """Keep gaps for ``key`` from now on."""
        with self._lock:
            self._wanted.add(key)

    def record(self, key: Key, start: int, end: int, offsets: Iterable[int]) -> None:
        """A fetch moved the position from ``start`` to ``end`` and returned ``offsets``."""
        if key not in self._wanted:
            return
        found = uncovered(start, end, offsets)
        if found:
            with self._lock:
                gaps = self._gaps[key]
                gaps.extend(found)
                if len(gaps) > MAX_GAPS_PER_PARTITION:
                    del gaps[: len(gaps) // 2]

    def take(self, key: Key, floor: int | None) -> list[Interval]:
        """Hand over (and forget) the gaps of ``key`` at or above ``floor``."""
        with self._lock:
            gaps = self._gaps.pop(key, [])
        if floor is None:
            return gaps
        return [(max(a, floor), b) for a, b in gaps if b > floor]

    def forget(self, key: Key) -> None:
        """Drop what is known about a partition (it was revoked)."""
        with self._lock:
            self._gaps.pop(key, None)
            self._wanted.discard(key)


class _State:
    """What the guard keeps beside faust's own consumer bookkeeping."""

    def __init__(self) -> None:
        self.proven = ProvenGaps()
        #: Partitions whose committed offset was read in the current assignment.
        self.based: set[Key] = set()
        self.hole_since: dict[Key, float] = {}
        self.last_redelivery: dict[Key, float] = {}
        self.redeliveries = 0
        self.refused_gaps = 0
        #: Stream partitions recovery resumed before its seek; resumed after the seek.
        self.deferred_resume: set[Any] = set()


STATE = _State()
_installed = False


def _key(tp: Any) -> Key:
    return (tp.topic, tp.partition)


class UnprovenVersionError(RuntimeError):
    """faust or aiokafka is not the version the patches were proven on."""


def check_versions(running: dict[str, str]) -> None:
    """Refuse to start on versions the patches were not proven on: the guarantees rest on them."""
    if running != PROVEN_ON:
        msg = (
            f"the commit guard and the other faust/aiokafka patches were proven on {PROVEN_ON}, "
            f"this environment has {running}; install the pinned versions (pip install -e .) "
            "or, to move to new ones, adapt the patches and run make chaos before pinning them"
        )
        raise UnprovenVersionError(msg)


def install() -> None:
    """Patch aiokafka's FetchResult and faust's Consumer (idempotent)."""
    global _installed  # the patch is process-wide, like the classes it patches
    if _installed:
        return
    check_versions({"faust": faust.__version__, "aiokafka": aiokafka.__version__})
    _installed = True
    _patch_fetch_result()
    _patch_consumer()


def _patch_fetch_result() -> None:
    original_getall = FetchResult.getall

    def getall(self: FetchResult, max_records: int | None = None) -> list[Any]:
        records_before = self._partition_records
        start = records_before.next_fetch_offset if records_before is not None else None
        records = original_getall(self, max_records)
        if start is not None and records_before is not None:
            end = records_before.next_fetch_offset
            if end > start:
                key = _key(self._topic_partition)
                STATE.proven.record(key, start, end, (r.offset for r in records))
                return continuity.STATE.covered(key, start, end, records)
        return records

    FetchResult.getall = getall  # type: ignore[method-assign]


def _patch_consumer() -> None:
    original_new_offset = Consumer._new_offset  # noqa: SLF001  # the method this module fixes
    original_perform_seek = Consumer.perform_seek
    original_revoked = Consumer.on_partitions_revoked
    original_assigned = Consumer.on_partitions_assigned
    original_resume = Consumer.resume_partitions
    original_seek = Consumer.seek
    original_seek_wait = ThreadDelegateConsumer.seek_wait

    async def _add_gap(self: Consumer, tp: Any, offset_from: int, offset_to: int) -> None:
        # Inferred from read offsets that go stale; proven gaps arrive through getall instead.
        STATE.refused_gaps += 1

    def _new_offset(self: Consumer, tp: Any) -> int | None:
        key = _key(tp)
        if key not in STATE.based:
            return None
        committed = self._committed_offset[tp]
        gap_tree = self._gap[tp]
        for a, b in STATE.proven.take(key, committed):
            gap_tree.addi(a, b)
        if gap_tree:
            gap_tree.merge_overlaps()
        acked = self._acked[tp]
        if acked:
            acked[:] = sorted(set(acked))
        intervals = [(iv.begin, iv.end) for iv in gap_tree]
        if committed is not None and head_hole(committed, acked, intervals):
            _watch_hole(self, tp, key, committed, acked[0])
            return None
        STATE.hole_since.pop(key, None)
        result: int | None = original_new_offset(self, tp)
        return result

    def resume_partitions(self: Consumer, tps: Iterable[Any]) -> None:
        # Recovery resumes the stream partitions and only then seeks them to their committed
        # offsets; whatever is fetched in between comes from where the fetcher was, ahead of
        # the commit, and was processed before the records the seek then reads again: a
        # partition's records out of order (issue 9, chaos run chaos1796041851). Stream
        # partitions are resumed after the seek instead (perform_seek below); faust resumes
        # them only in recovery, right before it seeks. Changelogs resume at once.
        changelogs = self.app.tables.changelog_topics
        tps = set(tps)
        streams = {tp for tp in tps if tp.topic not in changelogs}
        STATE.deferred_resume.update(streams)
        original_resume(self, tps - streams)

    async def perform_seek(self: Consumer) -> None:
        assigned = self.assignment()
        # Nothing is delivered while the seek is on its way (continuity.py).
        continuity.STATE.unbase(_key(tp) for tp in assigned)
        sought = False
        starts: dict[Any, int] = {}
        try:
            await original_perform_seek(self)
            sought = True
            STATE.based.update(_key(tp) for tp in self.assignment())
            starts = await _starts(self, [tp for tp in assigned if self._read_offset[tp] is None])
        finally:
            # Even when the seek failed: a partition left paused would never be served, and
            # one without a base never delivered. A failed seek falls back on the committed
            # offset known (records fetched past it are a hole, read again from it).
            known = self._read_offset if sought else self._committed_offset
            for tp in self.assignment() & assigned:
                offset = known.get(tp)
                continuity.STATE.base(_key(tp), starts.get(tp, 0) if offset is None else offset)
            deferred, STATE.deferred_resume = STATE.deferred_resume, set()
            original_resume(self, deferred & set(self.assignment()))

    async def seek(self: Consumer, partition: Any, offset: int) -> None:
        continuity.STATE.base(_key(partition), offset)
        await original_seek(self, partition, offset)

    async def seek_wait(self: ThreadDelegateConsumer, partitions: Any) -> None:
        for tp, offset in partitions.items():
            continuity.STATE.base(_key(tp), offset)
        await original_seek_wait(self, partitions)

    async def on_partitions_revoked(self: Consumer, revoked: set[Any]) -> None:
        for tp in revoked:
            key = _key(tp)
            STATE.based.discard(key)
            STATE.proven.forget(key)
            STATE.hole_since.pop(key, None)
            continuity.STATE.forget(key)
        await original_revoked(self, revoked)

    async def on_partitions_assigned(
        self: Consumer, assigned: set[Any], generation_id: int = 0
    ) -> None:
        acks_enabled_for = self.app.topics.acks_enabled_for
        for tp in assigned:
            if acks_enabled_for(tp.topic):
                STATE.proven.want(_key(tp))
        await original_assigned(self, assigned, generation_id)

    Consumer._add_gap = _add_gap  # type: ignore[method-assign]  # noqa: SLF001
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]  # noqa: SLF001
    Consumer.perform_seek = perform_seek  # type: ignore[method-assign]
    Consumer.on_partitions_revoked = on_partitions_revoked  # type: ignore[method-assign]
    Consumer.on_partitions_assigned = on_partitions_assigned  # type: ignore[method-assign]
    Consumer.resume_partitions = resume_partitions  # type: ignore[method-assign]
    Consumer.seek = seek  # type: ignore[method-assign]
    ThreadDelegateConsumer.seek_wait = seek_wait  # type: ignore[method-assign]


async def _starts(consumer: Consumer, tps: list[Any]) -> dict[Any, int]:
    """Where partitions without a committed offset start, as the reset policy says.

    aiokafka does not move such a partition at a seek to the committed offsets: records it
    fetched before (and faust dropped) would otherwise go unnoticed (continuity.py). Changelogs
    are left out (faust positions them itself); unknown (broker away): offset 0, so a fetch
    past it is read again from the start of the log.
    """
    changelogs = consumer.app.tables.changelog_topics
    streams = [tp for tp in tps if tp.topic not in changelogs]
    if not streams:
        return {}
    try:
        if consumer.app.conf.consumer_auto_offset_reset == "latest":
            offsets = await consumer.highwaters(*streams)
        else:
            offsets = await consumer.earliest_offsets(*streams)
    except Exception as exc:  # noqa: BLE001  # any failure: the start of the log
        log.warning(
            "could not read where %d partitions start (%r); from offset 0", len(streams), exc
        )
        return {}
    return {tp: offset for tp, offset in offsets.items() if offset is not None}


def _watch_hole(consumer: Consumer, tp: Any, key: Key, committed: int, first_acked: int) -> None:
    now = time.monotonic()
    since = STATE.hole_since.setdefault(key, now)
    if now - since < HOLE_GRACE_S or now - STATE.last_redelivery.get(key, 0.0) < HOLE_GRACE_S:
        return
    STATE.last_redelivery[key] = now
    STATE.redeliveries += 1
    log.warning(
        "%s[%d]: offsets %d..%d %s (later ones are acked); "
        "delivering the partition again from the committed offset %d",
        tp.topic,
        tp.partition,
        committed,
        first_acked - 1,
        SKIPPED_MARK,
        committed,
    )
    task = asyncio.ensure_future(consumer.seek_wait({tp: committed}))
    task.add_done_callback(_log_seek_failure)


def _log_seek_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("redelivery seek failed (retried at the next commit): %r", task.exception())
