"""``shipstream schemas check|register``: the Avro contracts against git and the registry."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streams.codecs import compat, registry
from streams.settings import Settings
from streams.topics import AVRO_TOPICS, SCHEMA_DIR


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the sub-command."""
    p = sub.add_parser("schemas", help="check schema compatibility or register schemas")
    p.add_argument("action", choices=("check", "register"))
    p.add_argument(
        "--offline",
        action="store_true",
        help="check: compare with the previous committed version instead of the registry",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run it."""
    if args.action == "register":
        for subject, schema_id in registry.register_all(settings).items():
            print(f"{subject}: id {schema_id}")
        return 0
    if args.offline:
        return _check_offline()
    return _check_registry(settings)


def _check_offline() -> int:
    failed = 0
    for r in compat.check_all(SCHEMA_DIR, SCHEMA_DIR.parent):
        verdict = "ok" if r.compatible else "NOT BACKWARD COMPATIBLE"
        print(f"{r.path.name}: {verdict} (against {r.against})")
        for m in r.messages:
            print(f"  {m}")
        failed += not r.compatible
    if failed:
        print(
            f"{failed} schema(s) break BACKWARD compatibility: add defaults to new fields, "
            "keep removed enum symbols, or publish a new subject",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _check_registry(settings: Settings) -> int:
    sr = registry.client(settings)
    failed = 0
    for spec in AVRO_TOPICS:
        assert spec.schema_file is not None  # noqa: S101  # Avro topics only
        subject = settings.topic(spec.name) + "-value"
        from confluent_kafka.schema_registry import Schema

        schema = Schema(registry.load_schema(Path(spec.schema_file)), "AVRO")
        try:
            ok = sr.test_compatibility(subject, schema)
        except Exception as exc:  # a missing subject is compatible by definition
            print(f"{subject}: not checked ({exc})")
            continue
        print(f"{subject}: {'ok' if ok else 'NOT COMPATIBLE'}")
        failed += not ok
    return 1 if failed else 0
