from __future__ import annotations

import math

from streams.tools.histogram import delta, merge, parse_buckets, quantile

TEXT = """\
# TYPE shipstream_decision_latency_seconds histogram
shipstream_decision_latency_seconds_bucket{le="0.1",since="ingested"} 50.0
shipstream_decision_latency_seconds_bucket{le="1.0",since="ingested"} 90.0
shipstream_decision_latency_seconds_bucket{le="+Inf",since="ingested"} 100.0
shipstream_decision_latency_seconds_bucket{le="0.1",since="occurred"} 0.0
"""


def test_parses_one_series() -> None:
    b = parse_buckets(TEXT, "shipstream_decision_latency_seconds", {"since": "ingested"})
    assert b == {0.1: 50.0, 1.0: 90.0, math.inf: 100.0}


def test_quantiles_interpolate_like_prometheus() -> None:
    b = {0.1: 50.0, 1.0: 90.0, math.inf: 100.0}
    assert quantile(0.5, b) == 0.1
    assert abs(quantile(0.7, b) - 0.55) < 1e-9
    assert quantile(0.99, b) == 1.0  # in +Inf: the highest finite bound
    assert quantile(0.5, {}) is None


def test_merge_sums_workers() -> None:
    assert merge([{1.0: 2.0}, {1.0: 3.0, math.inf: 4.0}]) == {1.0: 5.0, math.inf: 4.0}


def test_delta_is_what_a_worker_observed_between_two_readings() -> None:
    before = {0.1: 50.0, 1.0: 90.0, math.inf: 100.0}
    after = {0.1: 55.0, 1.0: 120.0, math.inf: 140.0}
    assert delta(after, before) == {0.1: 5.0, 1.0: 30.0, math.inf: 40.0}


def test_delta_of_a_restarted_worker_is_all_it_counted_since_its_start() -> None:
    before = {0.1: 50.0, 1.0: 90.0, math.inf: 100.0}
    restarted = {0.1: 3.0, 1.0: 4.0, math.inf: 4.0}
    assert delta(restarted, before) == restarted
