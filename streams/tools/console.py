"""What a user of the tools types and reads: topic names, tables, JSON lines, times."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import UTC, datetime

from streams import topics as catalogue
from streams.model import to_epoch_ms
from streams.settings import Settings


def iso_ms(ms: int) -> str:
    """``2026-11-25T10:00:00.000Z``."""
    when = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_default(value: object) -> object:
    """What ``json.dumps`` cannot encode by itself (Avro timestamps, bytes, decimals)."""
    if isinstance(value, datetime):
        return iso_ms(to_epoch_ms(value))
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    return str(value)


def dumps(obj: object) -> str:
    """One JSON line."""
    return json.dumps(obj, default=json_default, ensure_ascii=False)


def short_name(spec: catalogue.TopicSpec) -> str:
    """``shipments.events`` → ``events``; ``reference.hubs`` → ``hubs``."""
    return spec.name.rsplit(".", 1)[-1]


def resolve(settings: Settings, name: str) -> tuple[str, catalogue.TopicSpec | None]:
    """The concrete topic a user means, and its catalogue entry when it has one.

    Accepts a short catalogue name (``events``), a catalogue name (``shipments.events``, the
    prefix is applied) or a concrete name (prefixed, or any other topic on the broker).
    """
    for spec in catalogue.CATALOGUE:
        if name in (short_name(spec), spec.name, settings.topic(spec.name)):
            return settings.topic(spec.name), spec
    return name, None


def table(rows: Iterable[Iterable[object]], header: Iterable[str]) -> str:
    """Text columns two spaces apart; columns of numbers (and their header) right-aligned."""
    body: list[list[object]] = [["-" if c is None else c for c in r] for r in rows]
    head: list[object] = list(header)
    numeric = [
        all(isinstance(r[i], int) or r[i] in ("-", "") for r in body)
        and any(isinstance(r[i], int) for r in body)
        for i in range(len(head))
    ]
    widths = [max(len(str(r[i])) for r in [head, *body]) for i in range(len(head))]
    lines = []
    for row in [head, *body]:
        cells = [
            str(c).rjust(w) if num else str(c).ljust(w)
            for c, w, num in zip(row, widths, numeric, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
