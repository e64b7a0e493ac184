"""The load generator's options: a rate profile, its limits and the generator's seed.

One definition for ``shipstream load``, ``shipstream rehearse`` and the tests that drive load.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from streams.tools.loadgen.profiles import RateProfile, Surge, constant, surge


@dataclass(frozen=True)
class LoadOptions:
    """What ``shipstream load`` takes: a profile, its limits and the generator's seed."""

    profile: str = "constant"
    rate: float = 200.0
    factor: float = 10.0
    ramp_s: float = 30.0
    hold_s: float = 30.0
    warmup_s: float = 0.0
    count: int | None = None
    duration_s: float | None = None
    seed: int = 0
    concurrency: int = 2000

    def __post_init__(self) -> None:
        if self.profile not in ("constant", "surge"):
            msg = f"profile must be constant or surge, got {self.profile!r}"
            raise ValueError(msg)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> LoadOptions:
        """The options of ``add_load_arguments``' flags."""
        return cls(
            profile=args.profile,
            rate=args.rate,
            factor=args.factor,
            ramp_s=args.ramp,
            hold_s=args.hold,
            warmup_s=args.warmup,
            count=args.count,
            duration_s=args.duration,
            seed=args.seed,
            concurrency=args.concurrency,
        )

    def build_profile(self) -> RateProfile:
        """The rate profile, as ``shipstream load`` builds it."""
        return self._surge() if self.profile == "surge" else constant(self.rate)

    def _surge(self) -> Surge:
        return surge(
            self.rate,
            factor=self.factor,
            warmup_s=self.warmup_s,
            ramp_up_s=self.ramp_s,
            hold_s=self.hold_s,
            ramp_down_s=self.ramp_s,
        )

    def limits(self) -> tuple[int | None, float | None]:
        """``(count, duration_s)``, defaults filled in.

        Without either limit a constant load sends 10,000 records and a surge runs its whole
        profile, warm-up included.
        """
        count, duration = self.count, self.duration_s
        if count is None and duration is None:
            if self.profile == "constant":
                count = 10_000
            else:
                duration = self._surge().duration_s
        return count, duration

    def describe(self) -> str:
        """One line for the report."""
        count, duration = self.limits()
        bounds = ", ".join(
            b
            for b in (
                f"{count:,} records" if count is not None else "",
                f"{duration:g} s" if duration is not None else "",
            )
            if b
        )
        if self.profile == "surge":
            shape = (
                f"surge {self.rate:g}/s -> {self.rate * self.factor:g}/s "
                f"(warm-up {self.warmup_s:g} s, ramp {self.ramp_s:g} s, hold {self.hold_s:g} s)"
            )
        else:
            shape = f"constant {self.rate:g}/s"
        return f"{shape}, at most {bounds}; seed {self.seed}, {self.concurrency} in flight"
