"""``python -m ops.bench failover|join|restore|deliveries|all``: benchmarks on the chaos stack."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ops.bench import deliveries, failover, join, restore
from ops.bench.env import BenchEnv, write_report
from ops.chaos.stack import exclusive

NAMES = ("failover", "join", "restore", "deliveries")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m ops.bench", description=__doc__)
    p.add_argument("name", choices=(*NAMES, "all"))
    p.add_argument("--reps", type=int, default=3, help="repetitions per measurement")
    p.add_argument("--events", type=int, default=20_000, help="events preloaded as state")
    p.add_argument("--decisions", type=int, default=30_000, help="decisions to deliver")
    p.add_argument("--rate", type=float, default=100.0, help="load during the measurement")
    p.add_argument("--warm", type=float, default=10.0, help="seconds of load before a kill")
    p.add_argument("--settle", type=float, default=15.0, help="seconds between joins")
    p.add_argument(
        "--session-timeout",
        type=float,
        default=6.0,
        help="faust broker_session_timeout (the broker's minimum is 6 s)",
    )
    p.add_argument("--keep-stack", action="store_true", help="leave the chaos stack running")
    a = p.parse_args(argv)
    if a.reps < 1 or a.events < 1:
        p.error("--reps and --events must be at least 1")
    return a


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen benchmarks; each writes ``.local/bench/<name>.json``."""
    a = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    names = NAMES if a.name == "all" else (a.name,)
    env = BenchEnv(a.name, session_timeout_s=a.session_timeout, keep_stack=a.keep_stack)
    with exclusive(env.state_dir):
        try:
            env.up()
            for name in names:
                if name == "failover":
                    body = failover.run(env, a.reps, a.events, a.rate, a.warm)
                elif name == "join":
                    body = join.run(env, a.reps, a.events, a.rate, a.settle)
                elif name == "restore":
                    body = restore.run(env, a.reps, a.events)
                else:
                    body = deliveries.run(env, a.reps, a.decisions)
                body["command"] = " ".join(["python -m ops.bench", *(argv or sys.argv[1:])])
                write_report(name, body, body["lines"])
        finally:
            env.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
