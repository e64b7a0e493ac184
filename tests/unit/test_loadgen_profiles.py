from __future__ import annotations

import pytest

from streams.tools.loadgen.profiles import Constant, Surge, constant, surge


def test_constant_is_constant():
    profile = constant(250)
    assert profile == Constant(250)
    assert {profile(t) for t in (0, 1.5, 1e6)} == {250}


def test_surge_ramps_to_ten_times_base_holds_and_comes_back():
    profile = surge(100, warmup_s=10, ramp_up_s=20, hold_s=30, ramp_down_s=20)
    assert isinstance(profile, Surge)
    assert profile.peak == 1000
    assert profile.duration_s == 80
    assert profile(0) == profile(10) == 100
    assert profile(20) == pytest.approx(550)
    assert profile(30) == profile(45) == profile(60) == 1000
    assert profile(70) == pytest.approx(550)
    assert profile(80) == profile(500) == 100
    samples = [profile(t / 10) for t in range(0, 900)]
    assert max(samples) == 10 * 100
    rising = [profile(t) for t in range(10, 31)]
    assert rising == sorted(rising)


def test_profiles_reject_nonsense():
    with pytest.raises(ValueError, match="rate"):
        constant(-1)
    with pytest.raises(ValueError, match="factor"):
        surge(100, factor=0.5)
    with pytest.raises(ValueError, match="phases"):
        surge(100, hold_s=-1)
