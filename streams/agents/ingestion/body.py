"""Splitting an HTTP ingestion body into records: a JSON array or NDJSON.

Each record keeps its original bytes so a rejected one reaches the DLQ exactly as sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from streams.errors import Reason, ShipstreamError


class BodyError(ShipstreamError):
    """The body as a whole cannot be read as records."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RawRecord:
    """One record of a body: its JSON value, or why it could not be parsed."""

    index: int
    raw: bytes
    value: Any = None
    error: str | None = None


def split_body(body: bytes, content_type: str = "") -> list[RawRecord]:
    """Records of a JSON array or NDJSON body; malformed NDJSON lines become error records."""
    text = body.lstrip()
    if not text:
        msg = "the body is empty: send a JSON array or NDJSON of ShipmentEvent records"
        raise BodyError(Reason.MALFORMED_JSON, msg)
    if text.startswith(b"[") and "ndjson" not in content_type:
        try:
            items = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            msg = f"the body is not valid JSON: {exc}"
            raise BodyError(Reason.MALFORMED_JSON, msg) from exc
        return [
            RawRecord(i, json.dumps(item, separators=(",", ":")).encode(), item)
            for i, item in enumerate(items)
        ]
    records = []
    for i, line in enumerate(ln for ln in body.splitlines() if ln.strip()):
        try:
            records.append(RawRecord(i, line, json.loads(line)))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            records.append(RawRecord(i, line, error=f"line {i + 1} is not valid JSON: {exc}"))
    return records
