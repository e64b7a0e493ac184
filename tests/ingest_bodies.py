"""Hypothesis strategies for ``POST /ingest`` bodies, shared by the unit and integration fuzz tests.

A body is bytes plus a Content-Type. Most are made of JSON-ish records — valid events with a
field or two changed to something odd, or arbitrary JSON values — written as a JSON array or
NDJSON, sometimes with a BOM, a mangled line, a deep nesting, a huge number, a duplicate key
or a lone surrogate escape; the rest are arbitrary bytes.
"""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import strategies as st

from streams.agents.ingestion.validation import FIELDS

#: Any code point, lone surrogates included (hypothesis leaves them out by default).
ANY_CHAR = st.characters(exclude_categories=())
TEXT = st.one_of(st.text(max_size=12), st.text(ANY_CHAR, max_size=12))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    TEXT,
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(TEXT, st.sampled_from(sorted(FIELDS))), inner, max_size=4),
    ),
    max_leaves=12,
)
ODD_VALUES = st.one_of(
    JSONISH,
    st.sampled_from(
        [
            "2026-01-01T00:00:00",  # naive
            "2099-01-01T00:00:00Z",  # in the future
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00+23:59",
            "x" * 300,
            "",
            " ",
            "EXCEPTION",
            "DAMAGED",
            "EXPRESS",
        ]
    ),
)


def valid_record(n: int, now_ms: int | None = None) -> dict[str, Any]:
    """A valid event (n makes its ids unique), dated a minute ago."""
    at = (now_ms if now_ms is not None else time.time_ns() // 1_000_000) - 60_000
    return {
        "event_id": f"fz-{n}",
        "shipment_id": f"fz-s{n % 7}",
        "event_type": "ARRIVED_HUB",
        "occurred_at": at,
        "source": "fuzz",
        "hub": "AMS",
    }


@st.composite
def records(draw: st.DrawFn) -> Any:
    """A valid record with up to two fields changed or added, or any JSON value."""
    if draw(st.integers(0, 3)) == 0:
        return draw(JSONISH)
    rec: dict[str, Any] = valid_record(draw(st.integers(0, 10**9)))
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.one_of(st.sampled_from(sorted(FIELDS)), TEXT))
        if draw(st.booleans()) and name in rec:
            del rec[name]
        else:
            rec[name] = draw(ODD_VALUES)
    return rec


def _dump(value: Any, ascii_only: bool) -> bytes:
    # ensure_ascii writes lone surrogates as \\udXXX escapes: the way they arrive over HTTP.
    text = json.dumps(value, ensure_ascii=ascii_only)
    return text.encode("utf-8", errors="surrogatepass" if not ascii_only else "strict")


MANGLES = (
    b"[" * 5000 + b"]" * 5000,  # RecursionError in json
    b'{"occurred_at": ' + b"7" * 4400 + b"}",  # int digit limit
    b'{"event_id": "\\ud800", "shipment_id": "s"}',
    b'{"\\udfff": 1}',
    b'{"occurred_at": NaN}',
    b'{"event_id": "a", "event_id": "b"}',
    b'{"event_id": oops',
    b"\xff\xfe\x00",
    b"",
)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """A request body and its Content-Type."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=256)), draw(st.sampled_from(["", "application/json"]))
    items = [
        _dump(r, draw(st.booleans())) for r in draw(st.lists(records(), min_size=1, max_size=6))
    ]
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), draw(st.sampled_from(MANGLES)))
    ndjson = draw(st.booleans())
    if ndjson:
        body = b"\n".join(items) + b"\n"
        content_type = "application/x-ndjson"
    else:
        body = b"[" + b",".join(items) + b"]"
        content_type = "application/json"
    if draw(st.booleans()):
        body = b"\xef\xbb\xbf" + body
    return body, content_type
