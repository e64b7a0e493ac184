"""``shipstream reconcile``: prove every input record was applied, a duplicate, or dead-lettered."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator

from streams.agents.ingestion.validation import ValidationError, validate_event
from streams.codecs.avro import AvroSerde
from streams.errors import DecodeError, ServiceUnavailable
from streams.kafka import reader
from streams.model import ShipmentEvent
from streams.reconciliation import Reconciliation, reconcile
from streams.settings import Settings
from streams.topics import DLQ, EVENTS
from tables import shipments


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the sub-command."""
    p = sub.add_parser("reconcile", help="check that no input record was lost")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run)


def changelog_topics(settings: Settings) -> list[str]:
    """The shipments table's changelogs that exist: of processing workers and of `all` ones.

    ``shipstream bootstrap`` creates both up front, so both may exist; whichever the
    deployment used holds the state (reading both costs nothing when one is empty).
    """
    topics = reader.consumer(settings).list_topics(timeout=10).topics
    names = [
        f"{settings.app_id}-{role}-{shipments.NAME}-changelog"
        for role in ("processing", "all")
        if f"{settings.app_id}-{role}-{shipments.NAME}-changelog" in topics
    ]
    if not names:
        msg = f"no changelog of the {shipments.NAME} table yet; has a processing worker run?"
        raise ServiceUnavailable(msg)
    return names


def _inputs(settings: Settings) -> Iterator[tuple[str, int, int, tuple[str, str] | None]]:
    serde = AvroSerde(settings, EVENTS)
    for msg in reader.read_all(settings, settings.topic(EVENTS.name)):
        ident: tuple[str, str] | None
        try:
            ev = ShipmentEvent.from_avro(serde.decode(msg.value))
            # Judged by the record's timestamp, not today's clock: an event processing found
            # too far in the future must not look acceptable to a reconcile run hours later.
            validate_event(
                ev, now_ms=msg.timestamp_ms, max_future_skew_ms=settings.max_future_skew_ms
            )
            key = msg.key.decode(errors="replace") if msg.key else None
            ident = (ev.shipment_id, ev.event_id) if key == ev.shipment_id else None
        except (DecodeError, ValidationError):
            ident = None
        yield msg.topic, msg.partition, msg.offset, ident


def _dlq_offsets(settings: Settings) -> Iterator[tuple[int, int]]:
    source = settings.topic(EVENTS.name)
    for msg in reader.read_all(settings, settings.topic(DLQ.name)):
        if msg.header("error.stage") == "processing" and msg.header("source.topic") == source:
            yield int(msg.header("source.partition") or -1), int(msg.header("source.offset") or -1)


def _state_ids(settings: Settings) -> dict[str, list[str]]:
    latest: dict[str, list[str]] = {}
    for topic in changelog_topics(settings):
        for msg in reader.read_all(settings, topic):
            key = (msg.key or b"").decode()
            if msg.value is None:
                latest.pop(key, None)
            else:
                latest[key] = json.loads(msg.value).get("seen_event_ids", [])
    return latest


def compute(settings: Settings) -> Reconciliation:
    """Read the input, the DLQ and the state's changelog, and compare."""
    return reconcile(_inputs(settings), _state_ids(settings), _dlq_offsets(settings))


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
