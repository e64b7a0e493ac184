"""Splitting an HTTP ingestion body into records: a JSON array or NDJSON.

Each record keeps its original bytes so a rejected one reaches the DLQ exactly as sent. A
JSON array is cut into its items by a scanner that only counts brackets outside strings
(no recursion), and each item is parsed on its own: an item too deep to parse, a number
too long to convert or an item that is not JSON at all is an error of that item, as a bad
NDJSON line is, and never costs the rest of the batch. Only a body whose array cannot be
delimited at all (unbalanced brackets, an unterminated string) is refused as a whole.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

from streams.errors import Reason, ShipstreamError

BOM = b"\xef\xbb\xbf"
#: Python refuses to convert integers longer than this (CVE-2020-10735); JSON would raise.
MAX_INT_DIGITS = sys.get_int_max_str_digits() or 4300
#: Records are flat objects (``attributes`` is one level down); far deeper is not a record
#: and would cost recursion in the parser, so it is refused before parsing.
MAX_DEPTH = 32
#: A JSON string (escapes included), or any one structural character.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},"]', re.DOTALL)
_WS = b" \t\r\n"


class BodyError(ShipstreamError):
    """The body as a whole cannot be read as records."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class RecordError(ShipstreamError, ValueError):
    """One record of a body cannot be parsed; ``reason`` is its DLQ reason."""

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
    reason: str = Reason.MALFORMED_JSON


def split_body(body: bytes, content_type: str = "") -> list[RawRecord]:
    """Records of a JSON array or NDJSON body; records that do not parse become error records."""
    if body.startswith(BOM):
        body = body[len(BOM) :]  # some Windows tools write one; it is not part of the JSON
    text = body.lstrip(_WS)
    if not text:
        msg = "the body is empty: send a JSON array or NDJSON of ShipmentEvent records"
        raise BodyError(Reason.MALFORMED_JSON, msg)
    if text.startswith(b"[") and "ndjson" not in content_type:
        return [_record(i, item) for i, item in enumerate(array_items(text))]
    lines = (ln for ln in body.splitlines() if ln.strip(_WS))
    return [_record(i, line, f"line {i + 1}: ") for i, line in enumerate(lines)]


def array_items(text: bytes) -> list[bytes]:
    """The bytes of each item of the JSON array ``text`` (which starts with ``[``).

    Raises ``BodyError`` when the array's extent cannot be told: then no item can be trusted.
    """
    items: list[bytes] = []
    depth = 0
    start = 1
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token == b'"':
            msg = f"the body is not valid JSON: unterminated string at byte {match.start()}"
            raise BodyError(Reason.MALFORMED_JSON, msg)
        if token in (b"[", b"{"):
            depth += 1
        elif token in (b"]", b"}"):
            depth -= 1
            if depth == 0:
                items.append(text[start : match.start()])
                rest = text[match.end() :].strip(_WS)
                if rest:
                    msg = f"the body is not valid JSON: {len(rest)} bytes after the array"
                    raise BodyError(Reason.MALFORMED_JSON, msg)
                if len(items) == 1 and not items[0].strip(_WS):
                    return []  # []
                return [item.strip(_WS) for item in items]
        elif token == b"," and depth == 1:
            items.append(text[start : match.start()])
            start = match.end()
    msg = "the body is not valid JSON: the array is not closed (unbalanced brackets)"
    raise BodyError(Reason.MALFORMED_JSON, msg)


def parse_json(raw: bytes) -> Any:
    """One record's JSON value, strictly: UTF-8, no NaN/Infinity, no duplicate keys.

    Raises ``RecordError`` with the reason to dead-letter it under.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 ({exc.reason} at byte {exc.start}); send UTF-8 JSON"
        raise RecordError(Reason.INVALID_UNICODE, msg) from None
    depth = _depth(raw)
    if depth > MAX_DEPTH:
        msg = f"nested {depth} levels deep, at most {MAX_DEPTH}: not a ShipmentEvent"
        raise RecordError(Reason.TOO_DEEP, msg)
    try:
        return json.loads(
            text,
            parse_int=_int,
            parse_constant=_constant,
            object_pairs_hook=_object,
        )
    except RecordError:
        raise
    except RecursionError:  # MAX_DEPTH keeps this away; kept so it can never escape
        msg = "nested too deep to parse: not a ShipmentEvent"
        raise RecordError(Reason.TOO_DEEP, msg) from None
    except ValueError as exc:
        raise RecordError(Reason.MALFORMED_JSON, f"not valid JSON: {exc}") from None


def _record(index: int, raw: bytes, where: str = "") -> RawRecord:
    try:
        return RawRecord(index, raw, parse_json(raw))
    except RecordError as exc:
        return RawRecord(index, raw, error=f"{where}{exc}", reason=exc.reason)


def _depth(raw: bytes) -> int:
    """The deepest bracket nesting outside strings, counted without recursion."""
    deepest = depth = 0
    for match in _TOKEN.finditer(raw):
        token = match.group()
        if token == b'"':
            # Unterminated: the parser will say so. Scanning on would try every later quote
            # as the start of a string, quadratic in a line of escaped quotes.
            break
        if token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        msg = f"a number of {len(digits)} digits; timestamps are epoch milliseconds (13 digits)"
        raise RecordError(Reason.NUMBER_TOO_LARGE, msg)
    return int(digits)


def _constant(name: str) -> Any:
    msg = f"{name} is not JSON (RFC 8259 has no NaN or Infinity)"
    raise RecordError(Reason.MALFORMED_JSON, msg)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            shown = json.dumps(key)[:80]
            msg = f"field {shown} appears twice; which one is meant is ambiguous"
            raise RecordError(Reason.DUPLICATE_FIELD, msg)
        out[key] = value
    return out
