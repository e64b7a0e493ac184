"""The rehearsal's sampling loop with a fake clock, load, counters and lag (no network)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from streams.tools.rehearsal.runner import Runner
from streams.tools.rehearsal.sources import Counters


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


@dataclass
class FakeLoad:
    """Produces 100/s from start() until ``until`` seconds later."""

    clock: Clock
    until: float
    started: float | None = None
    stopped: bool = False
    error: BaseException | None = None

    def start(self) -> FakeLoad:
        self.started = self.clock()
        return self

    def stop(self) -> None:
        self.stopped = True

    def _elapsed(self) -> float:
        return 0.0 if self.started is None else min(self.clock() - self.started, self.until)

    @property
    def produced(self) -> int:
        return int(100 * self._elapsed())

    @property
    def running(self) -> bool:
        return self.started is not None and self.clock() - self.started < self.until

    @property
    def finished_at(self) -> float | None:
        return None if self.running or self.started is None else self.started + self.until

    def target_rate(self, now: float) -> float:
        return 100.0


@dataclass
class FakeWorkers:
    """Processes 80/s; the lag is what it has not processed yet."""

    clock: Clock
    load: FakeLoad
    processed: float = 0.0
    last: float | None = None
    reads: list[float] = field(default_factory=list)

    def read(self) -> Counters:
        now = self.clock()
        if self.last is not None:
            self.processed = min(self.load.produced, self.processed + 80 * (now - self.last))
        self.last = now
        self.reads.append(now)
        inf = float("inf")
        return Counters({"w": self.processed}, {"w": {1.0: self.processed, inf: self.processed}})

    def lag(self) -> dict[str, int]:
        return {"g": int(self.load.produced - self.processed)}

    def describe(self) -> str:
        return "fake"


def make(until: float, **kw: float) -> tuple[Runner, Clock, FakeLoad]:
    clock = Clock()
    load = FakeLoad(clock, until)
    workers = FakeWorkers(clock, load)
    runner = Runner(load, workers, workers.lag, clock=clock, sleep=clock.sleep, **kw)  # type: ignore[arg-type]
    return runner, clock, load


def test_samples_while_loading_then_until_drained() -> None:
    runner, _, _ = make(until=20.0, interval=5.0, drain_interval=1.0, drain_timeout=60.0)
    result = runner.run()
    assert result.drained
    assert result.load_s == pytest.approx(20.0)
    assert result.produced == 2000
    loading = [s for s in result.samples if s.loading]
    assert [s.t for s in loading] == [5.0, 10.0, 15.0]
    assert all(s.produced_rate == pytest.approx(100.0) for s in loading)
    assert all(s.processed_rate == pytest.approx(80.0) for s in loading)
    # 400 records behind at the end of the load, drained at 80/s: 5 s later, sampled every 1 s
    assert result.samples[-1].lag == 0
    assert result.samples[-1].t == pytest.approx(25.0)


def test_gives_up_after_the_drain_timeout() -> None:
    runner, _, _ = make(until=20.0, interval=5.0, drain_interval=1.0, drain_timeout=3.0)
    result = runner.run()
    assert not result.drained
    assert result.samples[-1].lag == 160  # 400 - 3 s x 80/s


def test_an_interrupt_stops_the_load() -> None:
    runner, clock, load = make(until=20.0, interval=5.0)

    def interrupted(_: float) -> None:
        raise KeyboardInterrupt

    runner.sleep = interrupted
    with pytest.raises(KeyboardInterrupt):
        runner.run()
    assert load.stopped


def test_rejects_a_zero_interval() -> None:
    with pytest.raises(ValueError, match="positive"):
        make(until=1.0, interval=0.0)
