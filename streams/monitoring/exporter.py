"""Exporting the deployment's consumer lag as ``shipstream_consumer_lag``, from a Faust timer.

The lag alerts, the dashboard and KEDA's view of lag all read the broker's numbers
(:mod:`streams.monitoring.lag`); this module puts them on the worker's ``GET /metrics``. Every
worker exports the lag of every group of the deployment (``<app id>-*``), not only its own, so
the series are duplicated per worker on purpose (any survivor keeps reporting, also for a role
whose last worker is down); the alert rules take ``max`` per partition before summing.

The sampling runs in a child process (:class:`IsolatedSampler`): librdkafka's admin requests
can abort the whole process when the broker restarts. ``streams/app.py`` registers it on every
worker. Faust is not imported here: the app is used through its ``timer`` decorator only.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import multiprocessing
import signal
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from streams.kafka.clients import librdkafka_config
from streams.monitoring.lag import LagGaugeWriter, LagSampleError, LagSampler, PartitionLag

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 15.0
"""Seconds between samples: a few admin round trips each, well under Prometheus' 5-15 s
scrape cadence mattering for alerts that look at minutes."""


_child_sampler: LagSampler | None = None


def _child_ready() -> int:
    """Runs in the sampler's process once it has started (and imported this module)."""
    return multiprocessing.current_process().pid or 0


def _sample_in_child(client: dict[str, Any], group_prefix: str) -> list[PartitionLag]:
    """Runs in the sampler's process; its admin client lives as long as that process."""
    global _child_sampler  # one client per child process, reused
    if _child_sampler is None:
        _child_sampler = LagSampler(client, group_prefix=group_prefix)
    return _child_sampler.sample()


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when its parent dies (the sampler child's initializer).

    A worker killed with SIGKILL cannot stop its pool, and its sampler child stayed behind
    holding an admin client (29 of them after a chaos run). Elsewhere than Linux: nothing.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        log.debug("prctl(PR_SET_PDEATHSIG) unavailable; the sampler may outlive a killed worker")


class IsolatedSampler:
    """A LagSampler in a child process, so that librdkafka cannot abort the worker.

    librdkafka's coordinator admin requests (ListConsumerGroupOffsets, DescribeConsumerGroups)
    abort the whole process with ``rd_kafka_enq_once_del_source_return: Assertion
    `eonce->refcnt > 0' failed`` when the broker drops the connection mid-request
    (librdkafka #4605, #3663). The chaos harness saw every worker die at once on a broker
    restart. Here only the child dies; the next tick starts another.
    """

    def __init__(self, client: dict[str, Any], group_prefix: str) -> None:
        self.client = client  # librdkafka config (servers, security): plain values, picklable
        self.group_prefix = group_prefix
        self._pool: ProcessPoolExecutor | None = None

    async def start(self) -> int:
        """Start the child process now; returns its pid.

        A fresh interpreter importing confluent-kafka costs about 0.6 s of CPU. Started by the
        first sample, that landed 15 s into the worker's life, when its partitions were
        already flowing; the worker starts it while it starts itself instead.
        """
        pid: int = await self._run(_child_ready)
        return pid

    async def sample_async(self) -> list[PartitionLag]:
        """One sample from the child process (started on first use, replaced when it died)."""
        samples: list[PartitionLag] = await self._run(
            _sample_in_child, self.client, self.group_prefix
        )
        return samples

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent
            )
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except BrokenProcessPool as exc:
            self._pool = None
            msg = "the lag sampler process died (librdkafka abort?); a new one starts next time"
            raise LagSampleError(msg) from exc


def register(
    pipeline: Pipeline,
    interval: float = DEFAULT_INTERVAL,
    sampler: LagSampler | IsolatedSampler | None = None,
) -> Callable[[], Awaitable[None]]:
    """Sample this worker's consumer group every ``interval`` seconds; returns the timer body.

    The blocking admin calls run in the sampler's child process (``IsolatedSampler``), so the
    agents keep consuming while the broker answers and a librdkafka abort costs only the
    child. A failed sample is logged and retried at the next tick, leaving the last values in
    place.
    """
    settings = pipeline.settings
    # Every group of this deployment, not just the worker's own: when the last worker of a role
    # is down, Prometheus drops its series, and only the other roles' workers can still report
    # that role's growing lag (the alert rules take max per group/topic/partition).
    sampler = sampler or IsolatedSampler(librdkafka_config(settings), f"{settings.app_id}-")
    writer = LagGaugeWriter(pipeline.metrics.consumer_lag)
    app: Any = pipeline.app

    async def export_consumer_lag() -> None:
        try:
            samples = await sampler.sample_async()
        except LagSampleError as exc:
            log.warning("consumer lag of %s not sampled: %s", settings.group_id, exc)
            return
        writer.update(samples)

    async def start_sampler() -> None:
        if isinstance(sampler, IsolatedSampler):
            try:
                await sampler.start()
            except LagSampleError as exc:
                log.warning("lag sampler not started: %s (the first sample tries again)", exc)

    app.task(start_sampler)
    app.timer(interval, name="shipstream.consumer_lag")(export_consumer_lag)
    return export_consumer_lag
