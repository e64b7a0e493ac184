"""``shipstream bootstrap``: topics, schemas with BACKWARD compatibility, and the hub network."""

from __future__ import annotations

import argparse

from streams.codecs import registry
from streams.kafka import admin
from streams.kafka.reference import publish_hubs
from streams.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the sub-command."""
    p = sub.add_parser("bootstrap", help="create topics, register schemas, load hubs")
    p.add_argument("--no-hubs", action="store_true", help="do not (re)publish the hub network")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Idempotent: safe to run on every start."""
    created = admin.ensure_topics(settings)
    print(f"topics: {len(created)} created" + (f" ({', '.join(created)})" if created else ""))
    for subject, schema_id in registry.register_all(settings).items():
        registry.set_compatibility(settings, subject, "BACKWARD")
        print(f"schema {subject}: id {schema_id}, BACKWARD")
    if not args.no_hubs:
        print(f"hubs: {publish_hubs(settings)} published to reference.hubs")
    return 0
