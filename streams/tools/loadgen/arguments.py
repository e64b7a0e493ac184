"""The load generator's command-line flags, shared by ``shipstream load`` and ``rehearse``."""

from __future__ import annotations

import argparse


def add_load_arguments(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The load profile flags, shared with ``shipstream rehearse``."""
    p.add_argument("--rate", type=float, default=200.0, help="events/s (surge: base rate)")
    p.add_argument("--count", type=int, help="stop after this many records")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--profile", choices=("constant", "surge"), default="constant")
    p.add_argument("--factor", type=float, default=10.0, help="surge peak / base rate")
    p.add_argument("--ramp", type=float, default=30.0, help="surge ramp up/down seconds")
    p.add_argument("--hold", type=float, default=30.0, help="surge seconds at the peak")
    p.add_argument(
        "--warmup", type=float, default=0.0, help="surge seconds at the base rate before the ramp"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--concurrency", type=int, default=2000, help="shipments in flight")
