"""The driver paces by a clock it is given, so these tests take no wall time."""

from __future__ import annotations

import io
import itertools

import pytest

from streams.tools.loadgen.driver import drive
from streams.tools.loadgen.profiles import constant, surge
from streams.tools.loadgen.progress import Progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "never asked to sleep for nothing (no busy loop)"
        self.sleeps.append(seconds)
        self.now += seconds


def run(items, profile, **kw):
    clock = FakeClock()
    batches: list[list] = []
    result = drive(
        items, batches.append, profile, clock=clock, sleep=clock.sleep, progress=False, **kw
    )
    return result, batches, clock


def test_count_is_honoured_exactly_at_about_the_rate():
    result, batches, _ = run(itertools.count(), constant(1000), count=5000)
    sent = [x for b in batches for x in b]
    assert sent == list(range(5000))
    assert result.sent == 5000 and not result.exhausted
    assert result.elapsed_s == pytest.approx(5.0, abs=0.1)
    assert result.average_rate == pytest.approx(1000, rel=0.02)


def test_batches_per_tick_not_per_item():
    result, batches, clock = run(itertools.count(), constant(1000), count=1000, tick_s=0.1)
    assert len(batches) == result.batches <= 11
    assert max(len(b) for b in batches) <= 100
    assert all(s == pytest.approx(0.1) for s in clock.sleeps)


def test_duration_limit_and_rate():
    result, _, _ = run(itertools.count(), constant(200), duration_s=10)
    assert result.elapsed_s == pytest.approx(10)
    assert result.sent == pytest.approx(2000, rel=0.02)


def test_slow_rates_still_send():
    result, _, _ = run(itertools.count(), constant(0.5), duration_s=11)
    assert result.sent == 5


def test_follows_the_surge_profile():
    profile = surge(100, ramp_up_s=10, hold_s=10, ramp_down_s=10)
    result, batches, _ = run(itertools.count(), profile, duration_s=30, tick_s=0.5)
    # Area under the profile: two ramps of 10 s averaging 550/s, a hold of 10 s at 1000/s.
    assert result.sent == pytest.approx(550 * 20 + 10_000, rel=0.03)
    per_tick = [len(b) for b in batches]
    assert max(per_tick) == pytest.approx(1000 * 0.5, rel=0.02)
    assert per_tick[0] <= 100


def test_finite_input_ends_the_run():
    result, batches, _ = run(range(30), constant(1000), count=100)
    assert result.exhausted and result.sent == 30
    assert sum(map(len, batches)) == 30


def test_takes_only_what_it_sends():
    source = iter(range(100))
    run(source, constant(1000), count=10)
    assert next(source) == 10


def test_slow_sink_is_not_followed_by_a_catch_up_burst():
    clock = FakeClock()
    sizes: list[int] = []

    def slow_sink(batch: list) -> None:
        sizes.append(len(batch))
        clock.now += 1.0  # each send takes a second

    drive(
        itertools.count(), slow_sink, constant(1000), duration_s=10, burst_s=0.25,
        clock=clock, sleep=clock.sleep, progress=False,
    )  # fmt: skip
    assert max(sizes) <= 250


def test_on_tick_runs_every_tick_even_without_sends():
    ticks = []
    run(itertools.count(), constant(0), duration_s=1, tick_s=0.1, on_tick=lambda: ticks.append(1))
    assert len(ticks) == 10


def test_progress_line_is_throttled_and_rendered():
    clock = FakeClock()
    stream = io.StringIO()
    drive(
        itertools.count(), lambda b: None, constant(100), count=500, tick_s=0.05,
        clock=clock, sleep=clock.sleep, progress=True, progress_stream=stream,
    )  # fmt: skip
    draws = stream.getvalue().count("\r")
    # 5 s of run, at most 4 redraws a second, plus the final one.
    assert 2 <= draws <= 5 * 4 + 2
    last = stream.getvalue().rsplit("\r", 1)[-1]
    assert "100%" in last and "sent 500/500" in last and "target 100/s" in last
    assert stream.getvalue().endswith("\n")


def test_progress_is_off_when_not_a_tty_unless_asked():
    stream = io.StringIO()
    bar = Progress(total=10, stream=stream)
    bar.update(5, 1.0, 1.0, 1.0, force=True)
    bar.close()
    assert stream.getvalue() == ""


def test_render_without_known_end_has_no_bar():
    line = Progress(enabled=False).render(1234, 99.6, 100, 12.34)
    assert line == "sent 1,234 | rate 100/s | target 100/s | 12.3s"


def test_rejects_nonpositive_tick():
    with pytest.raises(ValueError, match="tick_s"):
        drive([], lambda b: None, constant(1), tick_s=0)
