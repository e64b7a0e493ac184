"""``shipstream ingest FILE``: replay a JSONL or CSV file of events into the pipeline."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from streams.agents.ingestion.validation import ValidationError, parse_record
from streams.errors import Reason
from streams.kafka.events import EventPublisher
from streams.settings import Settings

#: CSV cells that hold numbers (epoch ms) rather than text.
_CSV_INT_FIELDS = ("occurred_at", "promised_at")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the sub-command."""
    p = sub.add_parser("ingest", help="replay a JSONL or CSV file of ShipmentEvent records")
    p.add_argument("file", type=Path)
    p.add_argument("--format", choices=("jsonl", "csv"), help="default: from the extension")
    p.set_defaults(run=run)


def _csv_record(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as a JSON-like record: empty cells are absent, attributes is JSON."""
    out: dict[str, Any] = {k: v for k, v in row.items() if v not in ("", None)}
    for name in _CSV_INT_FIELDS:
        if name in out and out[name].lstrip("-").isdigit():
            out[name] = int(out[name])
    if "attributes" in out:
        out["attributes"] = json.loads(out["attributes"])
    return out


def read_records(path: Path, fmt: str) -> Iterator[tuple[int, bytes, Any, str | None]]:
    """(line number, raw bytes, parsed value or None, parse error or None) per record."""
    if fmt == "csv":
        with path.open(newline="") as f:
            for i, row in enumerate(csv.DictReader(f), start=2):
                raw = json.dumps(row).encode()
                try:
                    yield i, raw, _csv_record(row), None
                except json.JSONDecodeError as exc:
                    yield i, raw, None, f"line {i}: attributes is not JSON: {exc}"
        return
    with path.open("rb") as f:
        for i, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield i, line.rstrip(b"\n"), json.loads(line), None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield i, line.rstrip(b"\n"), None, f"line {i} is not valid JSON: {exc}"


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Publish valid records, dead-letter the rest, print the counts."""
    path: Path = args.file
    if not path.is_file():
        print(f"shipstream: error: no such file: {path}", file=sys.stderr)
        return 2
    fmt = args.format or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    pub = EventPublisher(settings)
    source = f"file:{path.name}"
    for line, raw, value, error in read_records(path, fmt):
        if error is not None:
            pub.reject(raw, Reason.MALFORMED_JSON, error, source, line)
            continue
        try:
            pub.publish(parse_record(value))
        except ValidationError as exc:
            pub.reject(raw, exc.reason, f"line {line}: {exc.message}", source, line)
    pub.flush()
    print(
        f"ingested {path}: {pub.counts['published']} published, "
        f"{pub.counts['rejected']} rejected to the DLQ"
    )
    return 0
