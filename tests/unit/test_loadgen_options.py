"""The load options `shipstream load` and `rehearse` share: flags -> profile and limits."""

from __future__ import annotations

import argparse

import pytest

from streams.tools.loadgen.arguments import add_load_arguments
from streams.tools.loadgen.options import LoadOptions


def parse(*argv: str) -> LoadOptions:
    p = argparse.ArgumentParser()
    add_load_arguments(p)
    return LoadOptions.from_args(p.parse_args(argv))


def test_a_surge_with_a_warmup_holds_the_base_rate_first_and_runs_it_whole() -> None:
    options = parse(
        "--profile", "surge", "--rate", "100", "--warmup", "60", "--ramp", "20", "--hold", "20"
    )
    profile = options.build_profile()
    # 60 s at the base rate, then 20 s up to 10x, 20 s at the peak, 20 s down.
    assert profile(0) == profile(59.9) == 100
    assert profile(70) == pytest.approx(550)
    assert profile(85) == 1000
    assert options.limits() == (None, 60 + 20 + 20 + 20)
    assert "warm-up 60 s" in options.describe()


def test_without_a_warmup_the_surge_starts_its_ramp_at_once() -> None:
    options = parse("--profile", "surge", "--rate", "100", "--ramp", "20", "--hold", "20")
    assert options.build_profile()(10) == pytest.approx(550)
    assert options.limits() == (None, 60)


def test_limits_given_are_kept_and_a_constant_load_defaults_to_a_count() -> None:
    assert parse("--profile", "surge", "--warmup", "60", "--count", "500").limits() == (500, None)
    assert parse("--duration", "5").limits() == (None, 5)
    assert parse().limits() == (10_000, None)
    assert parse("--rate", "250").build_profile()(1e6) == 250
