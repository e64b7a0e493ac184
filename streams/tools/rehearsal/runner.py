"""The sampling loop of a rehearsal: start the load, observe every interval, wait for the drain.

The clock, the sleep, the load, the counters and the lag are all passed in, so the loop is
unit-tested with fakes and no broker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from streams.tools.rehearsal.sampling import Differ, Observation, Sample
from streams.tools.rehearsal.sources import CounterSource

log = logging.getLogger(__name__)

#: Lag of each watched group, or ``None`` when it could not be read this time.
LagReader = Callable[[], "Mapping[str, int] | None"]


class Load(Protocol):
    """What the loop needs of the load (``streams.tools.rehearsal.load.LoadRun``, or a fake)."""

    produced: int
    finished_at: float | None
    error: BaseException | None

    def start(self) -> object:
        """Start producing in the background."""
        ...

    def stop(self) -> None:
        """Ask the load to end early."""
        ...

    @property
    def running(self) -> bool:
        """Still producing."""
        ...

    def target_rate(self, now: float) -> float:
        """The profile's rate at ``now``."""
        ...


@dataclass
class RunResult:
    """What the loop saw."""

    samples: list[Sample]
    #: Seconds from the start to the end of the load.
    load_s: float
    produced: int
    total_latency: dict[float, float] = field(default_factory=dict)
    drained: bool = False
    load_error: BaseException | None = None


@dataclass
class Runner:
    """Observes a load every ``interval`` s until the lag drains or ``drain_timeout`` passes."""

    load: Load
    counters: CounterSource
    lag: LagReader
    interval: float = 5.0
    #: Sampling interval once the load has ended (finer, to time the drain).
    drain_interval: float = 2.0
    drain_timeout: float = 240.0
    drain_threshold: int = 0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], object] = time.sleep
    on_sample: Callable[[Sample], object] | None = None

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.drain_interval <= 0 or self.drain_timeout < 0:
            msg = "intervals must be positive and the drain timeout not negative"
            raise ValueError(msg)

    def run(self) -> RunResult:
        """Run the rehearsal; returns when drained, timed out, or the load failed and drained."""
        differ = Differ()
        start = self.clock()
        differ.advance(self._observe(start, loading=True))  # the baseline, before any load
        self.load.start()
        samples: list[Sample] = []
        load_end: float | None = None
        next_at = start
        try:
            while True:
                next_at += self.interval if load_end is None else self.drain_interval
                delay = next_at - self.clock()
                if delay > 0:
                    self.sleep(delay)
                loading = self.load.running
                obs = self._observe(start, loading=loading)
                sample = differ.advance(obs)
                if sample is not None:
                    samples.append(sample)
                    if self.on_sample is not None:
                        self.on_sample(sample)
                if loading:
                    continue
                if load_end is None:
                    finished = self.load.finished_at
                    load_end = (finished if finished is not None else self.clock()) - start
                if obs.lag is not None and obs.lag <= self.drain_threshold:
                    return self._result(samples, load_end, differ, drained=True)
                if obs.t - load_end >= self.drain_timeout:
                    log.warning("lag still %s after %.0f s of drain", obs.lag, self.drain_timeout)
                    return self._result(samples, load_end, differ, drained=False)
        except BaseException:
            self.load.stop()
            raise

    def _observe(self, start: float, *, loading: bool) -> Observation:
        counters = self.counters.read()
        lag_by_group = self.lag()
        now = self.clock()
        return Observation(
            t=now - start,
            produced=self.load.produced,
            counters=counters,
            lag_by_group=lag_by_group,
            loading=loading,
            target_rate=self.load.target_rate(now) if loading else 0.0,
        )

    def _result(
        self, samples: list[Sample], load_end: float, differ: Differ, *, drained: bool
    ) -> RunResult:
        return RunResult(
            samples=samples,
            load_s=load_end,
            produced=self.load.produced,
            total_latency=dict(differ.total_latency),
            drained=drained,
            load_error=self.load.error,
        )
