"""``shipstream summary``'s drain time: when the lag first read zero, once it stayed there."""

from __future__ import annotations

import pytest

from streams.tools.cli.summary import DRAIN_CONFIRM_S, DRAIN_SAMPLE_S, wait_drained


class FakeTime:
    """A clock that only moves when slept on."""

    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def drain(lags: list[int], timeout: float = 60.0) -> float:
    t = FakeTime()
    readings = iter(lags)
    return wait_drained(lambda: next(readings, 0), timeout, clock=t.clock, sleep=t.sleep)


def test_drained_is_the_first_zero_of_a_run_that_lasts() -> None:
    # lag 5, 3, 0 ... : zero from the third sample on
    assert drain([5, 3, 0]) == pytest.approx(2 * DRAIN_SAMPLE_S)


def test_a_zero_between_fetches_is_not_a_drain() -> None:
    confirm = int(DRAIN_CONFIRM_S / DRAIN_SAMPLE_S)
    lags = [4, 0, *([0] * (confirm - 2)), 7, 2, 0]  # zero, but not for DRAIN_CONFIRM_S
    assert drain(lags) == pytest.approx((len(lags) - 1) * DRAIN_SAMPLE_S)


def test_no_drain_within_the_timeout_raises() -> None:
    with pytest.raises(TimeoutError, match="did not drain within 3s"):
        drain([9] * 100, timeout=3.0)
