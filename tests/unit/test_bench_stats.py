"""Statistics and parsing of the benchmarks (no broker)."""

from __future__ import annotations

import pytest

from ops.bench.__main__ import parse_args
from ops.bench.stats import parse_counts, rate, ratio, summarize


def test_summary_of_repetitions_skips_failed_ones() -> None:
    s = summarize([4.0, None, 2.0, 9.0])
    assert (s.n, s.failed, s.median, s.minimum, s.maximum, s.mean) == (4, 1, 4.0, 2.0, 9.0, 5.0)
    assert s.text() == "median 4.00s (min 2.00, max 9.00, n=3, failed=1)"
    assert s.as_dict()["median"] == 4.0


def test_summary_without_values() -> None:
    s = summarize([None, None])
    assert s.median is None and s.failed == 2
    assert s.text() == "no value (n=2, failed=2)"


def test_even_count_median_and_ratio() -> None:
    assert summarize([1.0, 2.0, 3.0, 10.0]).median == 2.5
    assert ratio(12.0, 4.0) == 3.0
    assert ratio(None, 4.0) is None and ratio(1.0, 0.0) is None


def test_rate() -> None:
    assert rate(10_000, 2.5) == 4000.0
    assert rate(10, 0.0) is None and rate(10, None) is None


def test_parse_counts() -> None:
    assert parse_counts("0,1") == [0, 1]
    with pytest.raises(ValueError, match="non-negative"):
        parse_counts("0,-1")
    with pytest.raises(ValueError, match="integers"):
        parse_counts("")


def test_command_line() -> None:
    a = parse_args(["failover", "--reps", "5", "--session-timeout", "8"])
    assert (a.name, a.reps, a.session_timeout, a.keep_stack) == ("failover", 5, 8.0, False)
    with pytest.raises(SystemExit):
        parse_args(["nonsense"])
    with pytest.raises(SystemExit):
        parse_args(["join", "--reps", "0"])
