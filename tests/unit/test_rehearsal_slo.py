"""Figures of a run and their judgement against the objectives (no network)."""

from __future__ import annotations

import math

import pytest

from streams.tools.rehearsal import analysis, slo
from streams.tools.rehearsal.sampling import Sample


def sample(
    t: float,
    produced: float = 100.0,
    processed: float | None = 100.0,
    lag: int | None = 0,
    p50: float | None = 0.2,
    p99: float | None = 1.0,
    loading: bool = True,
) -> Sample:
    return Sample(t, produced, processed, lag, p50, p99, 10, loading)


RUN = [
    sample(5, produced=100, processed=80, lag=100),
    sample(10, produced=300, processed=150, lag=1200, p99=4.0),
    sample(15, produced=100, processed=250, lag=400, p50=0.5, p99=2.0),
    sample(17, produced=0, processed=200, lag=50, loading=False),
    sample(19, produced=0, processed=25, lag=0, p50=None, p99=None, loading=False),
]


def figures(samples: list[Sample] = RUN, load_s: float = 15.0) -> analysis.Figures:
    return analysis.compute(
        samples,
        profile="constant 100/s",
        produced=2500,
        load_s=load_s,
        interval_s=5,
        total_latency={1.0: 30.0, 5.0: 50.0, math.inf: 50.0},
    )


def test_figures_of_a_run() -> None:
    f = figures()
    assert (f.produced_peak, f.produced_avg) == (300, 2500 / 15)
    assert f.processed_peak == 250
    # time-weighted: (80*5 + 150*5 + 250*5 + 200*2 + 25*2) / 19
    assert f.processed_avg == pytest.approx((400 + 750 + 1250 + 400 + 50) / 19)
    assert (f.max_lag, f.max_lag_at_s) == (1200, 10)
    assert f.drain_s == 4.0
    assert (f.p50_peak_s, f.p99_peak_s) == (0.5, 4.0)
    assert f.p50_run_s == pytest.approx(25 / 30)
    assert f.decisions == 50
    assert f.duration_s == 19


def test_drain_is_none_when_the_lag_never_came_back_to_zero() -> None:
    assert analysis.drain_time([sample(20, lag=10, loading=False)], 15.0) is None
    assert analysis.drain_time([sample(20, lag=10, loading=False)], 15.0, threshold=10) == 5.0
    # a zero lag while the load still ran is not a drain
    assert analysis.drain_time([sample(10, lag=0), sample(20, lag=3)], 15.0) is None


def test_all_objectives_met_is_a_pass() -> None:
    results = slo.evaluate(figures(), slo.Objectives())
    assert [r.passed for r in results] == [True, True, True]
    assert slo.passed(results)
    assert [r.observed for r in results] == ["4.0 s", "1,200", "4.0 s"]


@pytest.mark.parametrize(
    ("objectives", "failed"),
    [
        (slo.Objectives(p99_latency_s=3.0), "p99 decision latency (worst interval)"),
        (slo.Objectives(max_lag=1000), "max consumer lag (all groups)"),
        (slo.Objectives(drain_s=3.5), "time to drain after the load"),
    ],
)
def test_one_objective_missed_is_a_fail(objectives: slo.Objectives, failed: str) -> None:
    results = slo.evaluate(figures(), objectives)
    assert [r.name for r in results if not r.passed] == [failed]
    assert not slo.passed(results)


def test_nothing_measured_fails_rather_than_passes() -> None:
    blind = [sample(5, processed=None, lag=None, p50=None, p99=None)]
    results = slo.evaluate(figures(blind), slo.Objectives())
    assert [r.observed for r in results] == ["not measured", "not measured", "did not drain"]
    assert not any(r.passed for r in results)
