"""Per-interval rates, lag and latency from cumulative observations (no network)."""

from __future__ import annotations

import math

import pytest

from streams.tools.rehearsal.sampling import (
    Differ,
    Observation,
    buckets_delta,
    counter_delta,
)
from streams.tools.rehearsal.sources import Counters

INF = math.inf


def obs(
    t: float,
    produced: int,
    processed: dict[str, float],
    latency: dict[str, dict[float, float]] | None = None,
    lag: int | None = 0,
    loading: bool = True,
) -> Observation:
    by_group = None if lag is None else {"g": lag}
    return Observation(t, produced, Counters(processed, latency or {}), by_group, loading, 100.0)


def test_counter_delta_survives_a_restart() -> None:
    assert counter_delta(10, 25) == 15
    assert counter_delta(100, 7) == 7  # the worker restarted: its counter began again at 0
    assert counter_delta(None, 5) == 5


def test_buckets_delta_judges_a_reset_on_the_total_count() -> None:
    before = {1.0: 4.0, INF: 10.0}
    assert buckets_delta(before, {1.0: 6.0, INF: 15.0}) == {1.0: 2.0, INF: 5.0}
    assert buckets_delta(before, {1.0: 1.0, INF: 2.0}) == {1.0: 1.0, INF: 2.0}


def test_first_observation_is_the_baseline() -> None:
    d = Differ()
    assert d.advance(obs(0, 0, {"w1": 1000.0})) is None  # history before the run is not counted
    s = d.advance(obs(5, 500, {"w1": 1400.0}, lag=120))
    assert s is not None
    assert (s.produced_rate, s.processed_rate, s.lag, s.target_rate) == (100.0, 80.0, 120, 100.0)
    assert s.lag_by_group == {"g": 120}


def test_rates_sum_workers_and_a_missed_scrape_is_caught_up_later() -> None:
    d = Differ()
    d.advance(obs(0, 0, {"w1": 0.0, "w2": 0.0}))
    s1 = d.advance(obs(2, 100, {"w1": 40.0}))  # w2 did not answer
    s2 = d.advance(obs(4, 200, {"w1": 80.0, "w2": 100.0}))
    assert s1 is not None and s2 is not None
    assert s1.processed_rate == 20.0
    assert s2.processed_rate == (40 + 100) / 2


def test_a_worker_started_during_the_run_counts_from_zero() -> None:
    d = Differ()
    d.advance(obs(0, 0, {"w1": 0.0}))
    s = d.advance(obs(10, 0, {"w1": 10.0, "new": 30.0}))
    assert s is not None and s.processed_rate == 4.0


def test_no_worker_answering_means_no_processed_rate() -> None:
    d = Differ()
    d.advance(obs(0, 0, {}))
    s = d.advance(obs(1, 10, {}, lag=None))
    assert s is not None
    assert (s.processed_rate, s.lag, s.p99_s) == (None, None, None)


def test_latency_quantiles_are_of_the_interval_only() -> None:
    d = Differ()
    # before the run: 1000 fast decisions, which must not dilute the interval's p99
    d.advance(obs(0, 0, {"w": 0}, {"w": {0.1: 1000.0, 10.0: 1000.0, INF: 1000.0}}))
    s = d.advance(obs(5, 0, {"w": 0}, {"w": {0.1: 1010.0, 10.0: 1100.0, INF: 1100.0}}))
    assert s is not None
    assert s.decisions == 100
    assert s.p50_s == pytest.approx(0.1 + 9.9 * (40 / 90))
    assert s.p99_s == pytest.approx(0.1 + 9.9 * (89 / 90))
    assert d.total_latency == {0.1: 10.0, 10.0: 100.0, INF: 100.0}


def test_latency_is_merged_over_workers() -> None:
    d = Differ()
    d.advance(obs(0, 0, {}, {"a": {1.0: 0.0, INF: 0.0}, "b": {1.0: 0.0, INF: 0.0}}))
    s = d.advance(obs(1, 0, {}, {"a": {1.0: 50.0, INF: 50.0}, "b": {1.0: 0.0, INF: 50.0}}))
    assert s is not None and s.decisions == 100
    assert s.p50_s == pytest.approx(1.0)
    assert s.p99_s == 1.0  # in +Inf: the highest finite bound, like histogram_quantile


def test_time_must_move_forward() -> None:
    d = Differ()
    d.advance(obs(1, 0, {}))
    with pytest.raises(ValueError, match="forward"):
        d.advance(obs(1, 0, {}))
