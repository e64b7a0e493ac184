"""The lag exporter's timer, with a fake app and sampler (no broker, no faust worker)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError

from streams.metrics import Metrics
from streams.monitoring import exporter
from streams.monitoring.lag import LagSampleError, PartitionLag
from streams.settings import Settings


@dataclass
class FakeApp:
    timers: list[tuple[float, str | None, Callable[..., Any]]] = field(default_factory=list)
    tasks: list[Callable[..., Any]] = field(default_factory=list)

    def task(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self.tasks.append(fn)
        return fn

    def timer(self, interval: float, name: str | None = None) -> Callable[..., Any]:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.timers.append((interval, name, fn))
            return fn

        return register


@dataclass
class FakePipeline:
    settings: Settings
    metrics: Metrics
    app: FakeApp


class FakeSampler:
    def __init__(self, results: list[list[PartitionLag] | Exception]) -> None:
        self.results = results

    async def sample_async(self) -> list[PartitionLag]:
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result


async def test_timer_exports_lag_and_survives_a_failed_sample() -> None:
    settings = Settings(role="processing")
    pipeline = FakePipeline(settings, Metrics(), FakeApp())
    lag = PartitionLag(settings.group_id, "shipments.events", 3, committed=10, low=0, high=25)
    sampler = FakeSampler([[lag], LagSampleError(str(KafkaError._TRANSPORT))])
    body = exporter.register(pipeline, interval=5.0, sampler=sampler)  # type: ignore[arg-type]

    assert pipeline.app.timers == [(5.0, "shipstream.consumer_lag", body)]
    labels = {"group": "shipstream-processing", "topic": "shipments.events", "partition": "3"}

    def value() -> float | None:
        return pipeline.metrics.registry.get_sample_value("shipstream_consumer_lag", labels)

    await body()
    assert value() == 15
    await body()  # the broker is down: logged, last value kept
    assert value() == 15


async def test_the_sampler_process_starts_with_the_worker_not_at_the_first_sample() -> None:
    # Its start-up (a new interpreter importing confluent-kafka) must not land under load.
    settings = Settings(role="processing")
    pipeline = FakePipeline(settings, Metrics(), FakeApp())
    exporter.register(pipeline, interval=15.0)  # type: ignore[arg-type]
    (start,) = pipeline.app.tasks
    await start()
    sampler_pool = _pool_of(pipeline.app.timers[0][2])
    try:
        (child,) = sampler_pool._processes.values()  # noqa: SLF001
        assert child.is_alive()
    finally:
        sampler_pool.shutdown()


def _pool_of(body: Callable[..., Any]) -> Any:
    """The process pool of the IsolatedSampler the timer body samples with."""
    (sampler,) = (
        c.cell_contents
        for c in body.__closure__ or ()
        if isinstance(c.cell_contents, exporter.IsolatedSampler)
    )
    assert sampler._pool is not None  # noqa: SLF001
    return sampler._pool  # noqa: SLF001


def test_the_sampler_child_asks_to_die_with_its_parent() -> None:
    # A SIGKILLed worker cannot stop its pool: the child must not outlive it.
    code = (
        "import ctypes, ctypes.util, signal\n"
        "from streams.monitoring.exporter import die_with_parent\n"
        "die_with_parent()\n"
        "libc = ctypes.CDLL(ctypes.util.find_library('c'))\n"
        "sig = ctypes.c_int()\n"
        "libc.prctl(2, ctypes.byref(sig))\n"  # PR_GET_PDEATHSIG
        "print(sig.value == signal.SIGTERM)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
