"""Watching the groups from outside: committed offsets, lag, and when partitions move again.

"Served again" is measured on the broker, not trusted from a worker: a partition of the
killed worker is served again when its group's committed offset moves past where it stood
at the kill. Faust commits every ``broker_commit_interval`` (2.8 s), so a time is exact to
about that much. Partitions that got no new records in the window (nothing to serve) are
reported as idle and left out of the time.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from streams.kafka.clients import librdkafka_config
from streams.monitoring.lag import LagSampleError, LagSampler, PartitionLag
from streams.settings import Settings

log = logging.getLogger(__name__)

TP = tuple[str, int]
#: committed (None: never) and high watermark of one partition at one moment.
Offsets = tuple[int | None, int]


def offsets_of(samples: Iterable[PartitionLag]) -> dict[TP, Offsets]:
    """A lag sample as ``(topic, partition) -> (committed, high)``."""
    return {(s.topic, s.partition): (s.committed, s.high) for s in samples}


@dataclass
class RecoveryTracker:
    """When each partition of a set was served again after time 0 (the disruption).

    ``baseline`` is each partition's committed offset at time 0. A partition has work when
    its high watermark passes that offset; it is served when its committed offset does.
    """

    baseline: Mapping[TP, int | None]
    served_at: dict[TP, float] = field(default_factory=dict)
    had_work: set[TP] = field(default_factory=set)

    def observe(self, t: float, sample: Mapping[TP, Offsets]) -> None:
        """Take one sample of offsets, ``t`` seconds after the disruption."""
        for tp, before in self.baseline.items():
            if tp in self.served_at or tp not in sample:
                continue
            committed, high = sample[tp]
            floor = -1 if before is None else before
            if high > floor and high > 0:
                self.had_work.add(tp)
            if committed is not None and committed > floor:
                self.served_at[tp] = t

    @property
    def pending(self) -> set[TP]:
        """Partitions with work that are not served yet."""
        return self.had_work - set(self.served_at)

    @property
    def idle(self) -> set[TP]:
        """Partitions that got nothing to do in the window."""
        return set(self.baseline) - self.had_work - set(self.served_at)

    def done(self) -> bool:
        """Every partition with work was served (and at least one had work)."""
        return bool(self.served_at) and not self.pending

    @property
    def recovery_s(self) -> float | None:
        """When the last partition with work was served; None while some are pending."""
        if not self.served_at or self.pending:
            return None
        return max(self.served_at.values())


_child_samplers: dict[tuple[str, tuple[str, ...]], LagSampler] = {}


def _sample_in_child(
    client: dict[str, Any], groups: tuple[str, ...], fresh: bool
) -> list[PartitionLag]:
    """Runs in the sampling process; keeps one admin client per (broker, groups) there."""
    key = (str(client["bootstrap.servers"]), groups)
    if fresh or key not in _child_samplers:
        _child_samplers[key] = LagSampler(client, groups=list(groups), timeout=5.0)
    return _child_samplers[key].sample()


class GroupWatch:
    """Lag samples of the run's groups, taken in a child process.

    librdkafka's admin client aborts its process when the broker drops a coordinator request
    (``rd_kafka_enq_once_del_source_return: Assertion `eonce->refcnt > 0' failed``, librdkafka
    #4605): on a broker restart it killed every worker and, once, the harness itself. In a
    child only the child dies; the next sample starts another (``child_deaths`` counts them).
    After a failed sample the child's client is replaced too: it does not always come back
    after the broker restarts.
    """

    def __init__(self, settings: Settings, groups: list[str]) -> None:
        self.groups = tuple(groups)
        self.client = librdkafka_config(settings)
        self.failures = 0
        self.child_deaths = 0
        self._fresh = True
        self._pool: ProcessPoolExecutor | None = None

    def reset(self) -> None:
        """Use a new admin client from the next sample on (after the broker restarted)."""
        self._fresh = True

    def sample(self) -> list[PartitionLag]:
        """A blocking sample; an empty list while the broker does not answer."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        fresh, self._fresh = self._fresh, False
        try:
            return self._pool.submit(_sample_in_child, self.client, self.groups, fresh).result(60)
        except BrokenProcessPool:
            self.child_deaths += 1
            log.warning("the lag sampling process died (%d so far); starting another",
                        self.child_deaths)  # fmt: skip
            self._pool = None
        except (LagSampleError, TimeoutError) as exc:
            self.failures += 1
            log.warning("lag sample failed (%d so far): %s", self.failures, exc)
        self._fresh = True
        return []

    def close(self) -> None:
        """Stop the sampling process."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def sample_async(self) -> list[PartitionLag]:
        """``sample`` in an executor thread."""
        return await asyncio.get_running_loop().run_in_executor(None, self.sample)

    async def track(
        self,
        baseline: Mapping[TP, int | None],
        groups: set[str] | None = None,
        timeout: float = 120.0,
        poll_s: float = 0.5,
        t0: float | None = None,
        idle_grace_s: float = 30.0,
    ) -> RecoveryTracker:
        """Sample until every partition of ``baseline`` with work moved again, or timeout.

        Partitions that get no records cannot show they are served; after ``idle_grace_s``
        with none pending the wait ends (the caller falls back to the worker's health).
        """
        start = time.monotonic() if t0 is None else t0
        tracker = RecoveryTracker(baseline)
        while (elapsed := time.monotonic() - start) < timeout:
            samples = await self.sample_async()
            picked = [s for s in samples if groups is None or s.group in groups]
            tracker.observe(time.monotonic() - start, offsets_of(picked))
            if tracker.done() or (elapsed > idle_grace_s and picked and not tracker.pending):
                break
            await asyncio.sleep(poll_s)
        return tracker


def baseline_of(samples: Iterable[PartitionLag], tps: set[TP], group: str) -> dict[TP, int | None]:
    """Committed offsets of ``tps`` in ``group`` (None for partitions never committed)."""
    out: dict[TP, int | None] = dict.fromkeys(tps)
    for s in samples:
        if s.group == group and (s.topic, s.partition) in tps:
            out[(s.topic, s.partition)] = s.committed
    return out


def visible_records(settings: Settings, positions: Mapping[TP, int], timeout: float = 10.0) -> int:
    """Records a read_committed consumer still sees after ``positions`` (0 = drained).

    Lag from watermarks counts transaction markers too: after an exactly-once run the last
    offset of a partition is a commit marker that no consumer ever reads, so lag stays at 1.
    Reading tells a marker from a record.
    """
    if not positions:
        return 0
    consumer = Consumer(
        {
            **librdkafka_config(settings),
            "group.id": "shipstream-chaos-probe",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    try:
        consumer.assign([TopicPartition(t, p, off) for (t, p), off in positions.items()])
        pending = set(positions)
        seen = 0
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            tp = (msg.topic() or "", msg.partition() or 0)
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:  # noqa: SLF001  # librdkafka's name
                    pending.discard(tp)
                continue
            seen += 1
        return seen + len(pending)
    finally:
        consumer.close()
