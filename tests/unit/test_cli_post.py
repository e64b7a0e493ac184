from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from streams import signing
from streams.errors import ShipstreamError
from streams.tools.cli.post import request_headers


def keys(tmp_path: Path) -> tuple[Path, str, str]:
    current, old = secrets.token_hex(32), secrets.token_hex(32)
    f = tmp_path / "keys.json"
    f.write_text(json.dumps({"acme": [current, old]}))
    return f, current, old


def test_signs_with_the_carriers_current_key_only(tmp_path: Path) -> None:
    f, current, old = keys(tmp_path)
    body = b'[{"event_id": "e"}]'
    h = request_headers(body, "acme", f, ndjson=False)
    assert h["X-Shipstream-Carrier"] == "acme" and h["Content-Type"] == "application/json"
    ts, sig = h[signing.TIMESTAMP_HEADER], h[signing.SIGNATURE_HEADER]
    signing.verify([current.encode()], body, ts, sig)
    with pytest.raises(signing.SignatureError):
        signing.verify([old.encode()], body, ts, sig)


def test_unsigned_without_a_key_file() -> None:
    h = request_headers(b"{}", "", None, ndjson=True)
    assert h == {"Content-Type": "application/x-ndjson"}


@pytest.mark.parametrize("carrier", ["", "globex"])
def test_signing_needs_a_carrier_with_a_key(tmp_path: Path, carrier: str) -> None:
    f, _, _ = keys(tmp_path)
    with pytest.raises(ShipstreamError, match="carrier"):
        request_headers(b"{}", carrier, f, ndjson=False)
