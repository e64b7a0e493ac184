"""The ``shipstream`` command: one sub-command per module in streams/tools/cli."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from streams.errors import ShipstreamError
from streams.settings import Settings, SettingsError, from_env
from streams.tools.cli import (
    bootstrap,
    dlq,
    get,
    ingest,
    lag,
    load,
    post,
    reconcile,
    rehearse,
    schemas,
    summary,
    tail,
    topics,
)

Command = Callable[[argparse.Namespace, Settings], int]

MODULES = (
    bootstrap,
    schemas,
    ingest,
    post,
    load,
    reconcile,
    summary,
    topics,
    lag,
    tail,
    get,
    dlq,
    rehearse,
)


def parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    p = argparse.ArgumentParser(prog="shipstream", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = p.add_subparsers(dest="command", required=True)
    for module in MODULES:
        module.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; errors print one clear line, not a traceback."""
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # one line per registry request is noise on a terminal; -v brings it back
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        settings = from_env()
        command: Command = args.run
        return command(args, settings)
    except (ShipstreamError, SettingsError) as exc:
        print(f"shipstream: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
