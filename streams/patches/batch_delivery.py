"""Records of chosen topics handed to their agent a fetch at a time, past faust's per-record path.

faust hands every record to a stream on its own: a ``Message`` and an ``Event`` object, an
async generator step, ``wait_first`` (two tasks and an ``asyncio.wait``) around the
conductor's callback, flow-control and producer-buffer awaits, a queue put and get, the
stream's iterator, ``take_events``' buffer and an ack through the event's refcount. That
costs 70-90 µs of CPU per record on this machine before the agent looks at it
(``python -m ops.bench.faust_floor``), more than Quix Streams spends on a whole event.

For the topics an agent registers here (:func:`source`), the fetcher loop hands the records of
each fetch (aiokafka's ``ConsumerRecord`` objects, per partition, in offset order) to a
:class:`BatchSource` in one call; the agent takes them in batches and acks a batch's offsets
into the consumer's own bookkeeping once it has finished with it. Everything else faust does
around a record is kept, in the same places:

- only partitions the consumer considers active are delivered, never while flow is stopped
  or after the consumer generation changed during the fetch (the rest is read again after
  faust's seek to the committed offsets), as in faust's loop;
- stricter than faust's loop: a partition's records are delivered as one unbroken run from
  the committed offset (``continuity.py``): a fetch that starts past the next record to
  deliver (records fetched and dropped on the way) is not delivered, the partition is read
  again from that record first;
- the buffer is cleared with faust's own queues (``app.flow_control.clear()``) at every
  rebalance; a batch the agent took stays in the consumer's unacked set until the agent is
  done with it, so ``wait_empty`` (rebalance, shutdown) waits for it and its commit includes
  it;
- back-pressure as faust's: past ``HIGH_WATER`` buffered records a partition stops being
  fetched (``on_buffer_full``), below ``LOW_WATER`` it is fetched again;
- a batch whose handler raised is not acked, and its partitions are read again from its
  first records before anything buffered behind it.

Changelog records of a table recovery go to ``changelog_batch`` through the same gate. Every
agent's topic is a batch topic now (processing, decision, communication); anything else
subscribed would take faust's per-record path unchanged. Proven on the versions
``offset_guard.PROVEN_ON`` names.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import faust
from faust.transport import consumer as faust_consumer
from faust.transport.consumer import Consumer
from faust.types import TP
from mode.utils.futures import notify

from streams.patches import changelog_batch, continuity

log = logging.getLogger(__name__)

#: The most records the processing and decision agents take at a time. Only a backlog fills a
#: batch; a shipment changed several times in a batch is written to its table once, so bigger
#: batches write fewer values per event (2,000 -> 6,000: +7% events per CPU-second for the
#: `all` worker in ``python -m ops.bench.throughput``, session 11).
LARGEST_BATCH = 6000
#: Buffered records past which a partition stops being fetched, and below which it resumes
#: (twice the largest batch, so the next batch is there when one ends).
HIGH_WATER = 2 * LARGEST_BATCH
LOW_WATER = LARGEST_BATCH // 2

#: aiokafka's ConsumerRecord: topic, partition, offset, timestamp (ms), key, value, headers.
Record = Any
Handler = Callable[[Sequence[Record]], Awaitable[None]]


class InFlight:
    """Stands for a taken batch in the consumer's unacked set (``wait_empty`` waits on it)."""

    __slots__ = ("__weakref__", "acked", "refcount")

    def __init__(self) -> None:
        self.acked = False
        self.refcount = 1


@dataclass(slots=True)
class Batch:
    """Records taken together, and the token that keeps a rebalance waiting for them."""

    records: list[Record]
    token: InFlight


class BatchSource:
    """The records of one topic on their way to its agent."""

    def __init__(self, app: faust.App, topic: str, max_records: int, within_s: float) -> None:
        self.app = app
        self.topic = topic
        self.max_records = max_records
        self.within_s = within_s
        self._records: deque[Record] = deque()
        self._arrived = asyncio.Event()
        self._paused: set[TP] = set()
        # Cleared with faust's stream queues at every rebalance (a WeakSet: we are kept alive
        # by the registry below).
        app.flow_control.manage_queue(self)  # type: ignore[arg-type]
        continuity.STATE.watch(self)  # a seek forgets what was buffered past it

    # -- fetcher side ---------------------------------------------------------------------

    def deliver(self, consumer: Consumer, fetched: Sequence[tuple[TP, Sequence[Record]]]) -> None:
        """Buffer the records of one fetch: its partitions interleaved, each in offset order.

        Interleaved as faust's scheduler does, so that partitions progress together: a fetch
        holds up to a megabyte per partition (thousands of records, days of event time in a
        backlog), and partition after partition would put the hub windows' stream time that
        far ahead of the partitions still to come, which then count as late (R5).
        """
        if len(fetched) == 1:
            self._records.extend(fetched[0][1])
        else:
            for row in itertools.zip_longest(*(records for _, records in fetched)):
                self._records.extend(r for r in row if r is not None)
        self._arrived.set()
        if len(self._records) > HIGH_WATER:
            for tp, _ in fetched:
                if tp not in self._paused:
                    self._paused.add(tp)
                    consumer.on_buffer_full(tp)

    def clear(self) -> None:
        """Forget buffered records (faust's flow control calls this at every rebalance)."""
        self._records.clear()
        self._arrived.clear()
        self._resume_fetching()

    def drop(self, key: tuple[str, int]) -> None:
        """Forget the buffered records of one partition: it is read again from a seek."""
        if key[0] == self.topic and self._records:
            self._records = deque(r for r in self._records if r.partition != key[1])

    # -- agent side -----------------------------------------------------------------------

    async def take(self) -> Batch:
        """The next batch: what is buffered, waiting ``within_s`` for more up to the maximum."""
        while not self._records:
            self._arrived.clear()
            await self._arrived.wait()
        if len(self._records) < self.max_records:
            deadline = time.monotonic() + self.within_s
            while len(self._records) < self.max_records:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except TimeoutError:
                    break
        n = min(len(self._records), self.max_records)
        records = [self._records.popleft() for _ in range(n)]
        token = InFlight()
        consumer = cast(Any, self.app.consumer)
        consumer._unacked_messages.add(token)  # noqa: SLF001  # see module docstring
        if len(self._records) < LOW_WATER:
            self._resume_fetching()
        return Batch(records, token)

    def done(self, batch: Batch, *, ack: bool) -> None:
        """Release a batch; ``ack``: its offsets may be committed."""
        consumer = cast(Any, self.app.consumer)
        token = batch.token
        if ack:
            _ack(consumer, batch.records, self.app.monitor.stream_inbound_time)
        token.acked = True
        token.refcount = 0
        consumer._unacked_messages.discard(token)  # noqa: SLF001
        notify(consumer._waiting_for_ack)  # noqa: SLF001

    async def run(self, handle: Handler) -> None:
        """Take batches and hand them to ``handle`` until cancelled; ack those it finished.

        A batch whose handler raised is read again, from its first record of each partition,
        before anything after it: the records buffered behind it are forgotten.
        """
        while True:
            batch = await self.take()
            try:
                await handle(batch.records)
            except Exception:
                self.done(batch, ack=False)
                await self._read_again(batch.records)
                raise
            except BaseException:  # cancelled: a rebalance or the worker stopping
                self.done(batch, ack=False)
                raise
            self.done(batch, ack=True)

    async def _read_again(self, records: Sequence[Record]) -> None:
        first: dict[TP, int] = {}
        for r in records:
            tp = TP(r.topic, r.partition)
            if tp not in first:
                first[tp] = r.offset
        for tp, offset in first.items():
            await read_again(self.app.consumer, tp, offset)

    def _resume_fetching(self) -> None:
        """Fetch again the partitions paused for the high water, unless faust paused them.

        faust's ``on_buffer_drop`` makes a partition active without looking at its own pauses:
        called at a rebalance (``clear``) or during a recovery, it would let the partition be
        fetched before faust seeks it to its committed offset, which the commit guard defers
        the resumption of stream partitions for (``offset_guard.resume_partitions``). A
        partition faust paused only leaves the buffered set here; faust resumes it itself.
        """
        if self._paused:
            consumer = cast(Any, self.app.consumer)  # faust's Consumer, not its interface
            paused_by_faust = consumer._paused_partitions  # noqa: SLF001  # see docstring
            for tp in self._paused:
                if tp in paused_by_faust:
                    consumer._buffered_partitions.discard(tp)  # noqa: SLF001
                else:
                    consumer.on_buffer_drop(tp)
            self._paused.clear()


def _ack(consumer: Any, records: Sequence[Record], inbound: dict[TP, float]) -> None:
    """What ``Consumer.ack`` does per message, per partition of a batch.

    ``inbound``: the Monitor's last-record time per partition, which faust's "stream idle"
    check reads and the Monitor no longer sets (``streams/app.py``).
    """
    by_tp: dict[TP, list[int]] = {}
    for r in records:
        by_tp.setdefault(TP(r.topic, r.partition), []).append(r.offset)
    now = time.monotonic()
    with faust_consumer.ack_lock:
        for tp, offsets in by_tp.items():
            committed = consumer._committed_offset[tp]  # noqa: SLF001
            index = consumer._acked_index[tp]  # noqa: SLF001
            acked = consumer._acked[tp]  # noqa: SLF001
            for offset in offsets:
                if (committed is None or offset >= committed) and offset not in index:
                    index.add(offset)
                    acked.append(offset)
                    consumer._n_acked += 1  # noqa: SLF001
            inbound[tp] = now


def sources(app: faust.App) -> dict[str, BatchSource]:
    """The batch sources of ``app``, by topic name."""
    registry: dict[str, BatchSource] | None = getattr(app, "_shipstream_batch_sources", None)
    if registry is None:
        registry = {}
        app._shipstream_batch_sources = registry  # type: ignore[attr-defined]  # noqa: SLF001
    return registry


def source(app: faust.App, topic: str, max_records: int, within_s: float) -> BatchSource:
    """Deliver ``topic``'s records to a batch source (call before the worker starts)."""
    install()
    registry = sources(app)
    if topic in registry:
        msg = f"topic {topic!r} already has a batch source"
        raise ValueError(msg)
    registry[topic] = BatchSource(app, topic, max_records, within_s)
    return registry[topic]


_installed = False


def install() -> None:
    """Replace ``Consumer._drain_messages`` (idempotent)."""
    global _installed  # the patch is process-wide, like the class it patches
    if _installed:
        return
    _installed = True
    Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]  # noqa: SLF001


async def _drain_messages(self: Any, fetcher: Any) -> None:  # pragma: no cover - needs a broker
    """Faust's fetcher loop (0.15.3), with whole fetches of batch topics handed over at once."""
    callback = self.callback
    consumer_should_stop = self._stopped.is_set  # noqa: SLF001
    fetcher_should_stop = fetcher._stopped.is_set  # noqa: SLF001
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
    flag = faust_consumer.CONSUMER_FETCHING
    batch_sources = sources(self.app)
    recovery = changelog_batch.recovery_of(self.app)
    yield_every, since_yield = 100, 0
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(flag)
            records, active = await self._wait_next_records(1.0)
            await self.sleep(0)
            if records is None or self.should_stop:
                unset_flag(flag)
                continue
            if not self.flow_active:
                try:
                    await self.perform_seek()
                except Exception as exc:
                    log.warning("exception performing seek when flow not active %r", exc)
                unset_flag(flag)
                continue
            generation_id = self.app.consumer_generation_id
            taken = await _take_fetch(self, records, active, generation_id, batch_sources, recovery)
            for target, parts in taken.batches.items():
                for tp, batch in parts:
                    set_read_offset(tp, batch[-1].offset)
                target.deliver(self, parts)
            if taken.changelogs:
                for tp, batch in taken.changelogs:
                    set_read_offset(tp, batch[-1].offset)
                    changelog_batch.apply_fetch(recovery, tp, batch)
                changelog_batch.check_done(recovery)
            for tp, offset in taken.read_again.items():
                await read_again(self, tp, offset)
            if taken.others:
                buffered = self._buffered_partitions
                for tp, record in self.scheduler.iterate(taken.others):
                    if not self.flow_active or self.app.consumer_generation_id != generation_id:
                        break
                    if active is not None and tp not in active and tp not in buffered:
                        continue
                    since_yield += 1
                    if since_yield > yield_every:
                        await asyncio.sleep(0)
                        since_yield = 0
                    message = self._to_message(tp, record)
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        await self.wait_first(callback(message), self.suspend_flow.wait())
                        set_read_offset(tp, offset)
            commit_every = self._commit_every
            if commit_every is not None and self._n_acked >= commit_every:
                self._n_acked = 0
                await self.commit()
            unset_flag(flag)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(flag)


@dataclass(slots=True)
class Taken:
    """A fetch sorted by where its records go, past the gate each partition goes through."""

    batches: dict[BatchSource, list[tuple[TP, Sequence[Record]]]] = field(default_factory=dict)
    changelogs: list[tuple[TP, list[Any]]] = field(default_factory=list)
    others: dict[Any, Sequence[Record]] = field(default_factory=dict)
    read_again: dict[TP, int] = field(default_factory=dict)


async def _take_fetch(
    consumer: Any,
    records: dict[Any, Sequence[Record]],
    active: Any,
    generation_id: int,
    batch_sources: dict[str, BatchSource],
    recovery: Any,
) -> Taken:
    """One gate for the partitions handed over a fetch at a time: batch topics and changelogs.

    As faust's loop: only while flow is on in the same consumer generation (else none of the
    fetch: it is read again after faust's seek), only partitions the consumer considers active
    (or paused for a full buffer). Then a batch topic's records go through the continuity
    check (``continuity.py``), a changelog's from the read offset on. Anything else takes
    faust's per-record path.
    """
    taken = Taken()
    flow_control = consumer.app.flow_control
    read_offsets = consumer._read_offset  # noqa: SLF001  # faust's own bookkeeping
    buffered = consumer._buffered_partitions  # noqa: SLF001
    for fetched_tp, batch in records.items():
        # aiokafka's TopicPartition; faust's bookkeeping asserts its own TP type.
        tp = TP(fetched_tp.topic, fetched_tp.partition)
        target = batch_sources.get(tp.topic)
        if target is None and not changelog_batch.tracks(recovery, tp):
            taken.others[fetched_tp] = batch
            continue
        if not flow_control.is_active():
            await flow_control.acquire()
        if not consumer.flow_active or consumer.app.consumer_generation_id != generation_id:
            return Taken()  # read again after faust's seek, none of it delivered
        if active is not None and tp not in active and tp not in buffered:
            continue  # a batch topic's next fetch shows the hole (continuity.py)
        if target is not None:
            batch, again = continuity.STATE.admit(tp, batch)
            if again is not None:
                taken.read_again[tp] = again
            elif batch:
                taken.batches.setdefault(target, []).append((tp, batch))
            continue
        r_offset = read_offsets.get(tp)
        messages = [
            consumer._to_message(tp, r)  # noqa: SLF001  # faust's own conversion
            for r in batch
            if r_offset is None or r.offset >= r_offset
        ]
        if messages:
            taken.changelogs.append((tp, messages))
    return taken


async def read_again(consumer: Any, tp: TP, offset: int) -> None:  # pragma: no cover - broker
    """Seek ``tp`` back to ``offset`` (what was fetched past it is read again, in order)."""
    try:
        await consumer.seek_wait({tp: offset})
    except Exception as exc:  # revoked meanwhile, broker away: the next fetch shows it again
        continuity.STATE.not_read_again(tp)
        log.warning(
            "%s[%d]: seek to %d failed (tried again): %r", tp.topic, tp.partition, offset, exc
        )
