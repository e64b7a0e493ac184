"""Statistics and parsing of the benchmarks (no broker)."""

from __future__ import annotations

import pytest

from ops.bench.__main__ import parse_args
from ops.bench.stats import (
    max_commit_gaps,
    parse_counts,
    rate,
    ratio,
    restore_seconds,
    summarize,
)


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


def test_restore_seconds_from_a_faust_log() -> None:
    log = [
        "[2026-11-25 17:46:27,700] [1] [INFO] [^---Recovery]: Highwater for active ...",
        "[2026-11-25 17:46:27,765] [1] [INFO] [^---Recovery]: Restoring state from changelog "
        "topics... ",
        "[2026-11-25 17:46:28,000] [1] [INFO] [^---Fetcher]: Starting... ",
        "[2026-11-25 17:46:29,272] [1] [INFO] [^---Recovery]: Restore complete! ",
        "[2026-11-25 17:46:39,000] [1] [INFO] [^---Recovery]: Restore complete! ",
    ]
    assert restore_seconds(log) == pytest.approx(1.507)
    assert restore_seconds(log[:2]) is None
    assert restore_seconds([]) is None


def test_a_restore_cut_short_by_a_rebalance_is_timed_to_the_end_of_its_last_pass() -> None:
    log = [
        "[2026-12-01 02:43:21,657] [1] [INFO] [^---Recovery]: Restoring state from changelog "
        "topics... ",
        "[2026-12-01 02:43:24,997] [1] [INFO] [^---Recovery]: Restore complete! ",
        "[2026-12-01 02:43:25,016] [1] [INFO] [^---Recovery]: Restoring state from changelog "
        "topics... ",
        "[2026-12-01 02:43:34,244] [1] [INFO] [^---Recovery]: Restore complete! ",
        "[2026-12-01 02:44:00,000] [1] [INFO] [^---Recovery]: Restore complete! ",
    ]
    assert restore_seconds(log) == pytest.approx(12.587)


def test_commit_gaps_grow_across_a_pause() -> None:
    a, b = ("t", 0), ("t", 1)
    samples = [
        (0.0, {a: 1, b: 1}),
        (3.0, {a: 2, b: 2}),
        (6.0, {a: 3, b: 2}),  # b pauses
        (9.0, {a: 4, b: 2}),
        (15.0, {a: 5, b: 3}),
    ]
    gaps = max_commit_gaps(samples)
    assert gaps == {a: 6.0, b: 12.0}
    assert max_commit_gaps([(0.0, {a: 1})]) == {}
