"""Target send rates over time: steady load, and the Black Friday surge the article describes.

A profile is any callable from elapsed seconds to events per second, so a test or a demo can
pass a lambda; the two here are frozen dataclasses so they print what they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: Elapsed seconds since the start of a run -> target events per second.
RateProfile = Callable[[float], float]


@dataclass(frozen=True, slots=True)
class Constant:
    """The same rate throughout."""

    rate: float

    def __post_init__(self) -> None:
        if self.rate < 0:
            msg = f"rate must be >= 0, got {self.rate}"
            raise ValueError(msg)

    def __call__(self, elapsed: float) -> float:
        """The target rate at ``elapsed`` seconds."""
        return self.rate


@dataclass(frozen=True, slots=True)
class Surge:
    """Base rate, a linear ramp to ``factor`` x base, a hold at the peak, a ramp back down.

    ``warmup_s`` of base load comes first so the pipeline is seen at rest before the surge;
    after ``duration_s`` the rate stays at base.
    """

    base: float
    factor: float = 10.0
    warmup_s: float = 0.0
    ramp_up_s: float = 60.0
    hold_s: float = 120.0
    ramp_down_s: float = 60.0

    def __post_init__(self) -> None:
        if self.base < 0 or self.factor < 1:
            msg = f"need base >= 0 and factor >= 1, got base={self.base}, factor={self.factor}"
            raise ValueError(msg)
        if min(self.warmup_s, self.ramp_up_s, self.hold_s, self.ramp_down_s) < 0:
            msg = "surge phases must not be negative"
            raise ValueError(msg)

    @property
    def peak(self) -> float:
        """Rate during the hold."""
        return self.base * self.factor

    @property
    def duration_s(self) -> float:
        """Length of the whole surge, warm-up included."""
        return self.warmup_s + self.ramp_up_s + self.hold_s + self.ramp_down_s

    def __call__(self, elapsed: float) -> float:
        """The target rate at ``elapsed`` seconds."""
        t = elapsed - self.warmup_s
        if t <= 0:
            return self.base
        if t < self.ramp_up_s:
            return self.base + (self.peak - self.base) * t / self.ramp_up_s
        t -= self.ramp_up_s
        if t <= self.hold_s:
            return self.peak
        t -= self.hold_s
        if t < self.ramp_down_s:
            return self.peak - (self.peak - self.base) * t / self.ramp_down_s
        return self.base


def constant(rate: float) -> Constant:
    """A steady ``rate`` events per second."""
    return Constant(rate)


def surge(
    base: float,
    *,
    factor: float = 10.0,
    warmup_s: float = 0.0,
    ramp_up_s: float = 60.0,
    hold_s: float = 120.0,
    ramp_down_s: float = 60.0,
) -> Surge:
    """The Black Friday profile: ramp from ``base`` to ``factor`` x base, hold, ramp down."""
    return Surge(base, factor, warmup_s, ramp_up_s, hold_s, ramp_down_s)
