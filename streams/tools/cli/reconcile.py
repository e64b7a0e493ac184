"""``shipstream reconcile``: prove every input record was applied, a duplicate, or dead-lettered."""

from __future__ import annotations

import argparse
import json
import sys

from streams.settings import Settings
from streams.tools.reconciliation import compute


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the sub-command."""
    p = sub.add_parser("reconcile", help="check that no input record was lost")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the reconciliation; exit 1 when something is unaccounted for."""
    r = compute(settings)
    if args.json:
        print(json.dumps({**r.__dict__, "lost": r.lost, "ok": r.ok}))
    else:
        print(r.summary())
        for label, items in (
            ("missing from state", r.missing_from_state),
            ("missing from DLQ", r.missing_from_dlq),
            ("unexpected in state", r.unexpected_in_state),
        ):
            if items:
                print(
                    f"  {label}: {', '.join(items[:10])}{' …' if len(items) > 10 else ''}",
                    file=sys.stderr,
                )
    if not r.ok:
        print(
            "some records are unaccounted for; if workers are still catching up "
            "(see consumer lag), wait and run again",
            file=sys.stderr,
        )
    return 0 if r.ok else 1
