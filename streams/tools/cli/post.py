"""``shipstream post FILE``: send a body to ``POST /ingest`` as a carrier's webhook would.

Signed (``streams.signing``) with the carrier's current key — the first listed for it in the
key file (``--keys-file``, default ``SHIPSTREAM_INGEST_KEYS_FILE``) — when there is one;
unsigned otherwise, which only a worker with ``SHIPSTREAM_INGEST_AUTH=none`` accepts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

from streams import signing
from streams.errors import ShipstreamError
from streams.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the sub-command."""
    p = sub.add_parser("post", help="POST a JSON or NDJSON body to /ingest, signed if keys exist")
    p.add_argument("file", help="the body: a .json array or .ndjson/.jsonl lines; - for stdin")
    p.add_argument(
        "--carrier", default="", help="carrier id whose key signs (X-Shipstream-Carrier)"
    )
    p.add_argument("--keys-file", type=Path, help="default: SHIPSTREAM_INGEST_KEYS_FILE")
    p.add_argument(
        "--url", help="an ingestion worker's base URL (default: SHIPSTREAM_WEB_HOST:PORT)"
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    p.set_defaults(run=run)


def request_headers(
    body: bytes, carrier: str, keys_file: Path | None, ndjson: bool
) -> dict[str, str]:
    """Content type, carrier and, when the carrier has a key, the signature."""
    headers = {"Content-Type": "application/x-ndjson" if ndjson else "application/json"}
    if carrier:
        headers[signing.CARRIER_HEADER] = carrier
    if keys_file is not None:
        if not carrier:
            msg = "--carrier is required to sign: it names the key in the key file"
            raise ShipstreamError(msg)
        secrets = signing.load_keys(keys_file).get(carrier)
        if not secrets:
            msg = f"{keys_file} has no key for carrier {carrier!r}"
            raise ShipstreamError(msg)
        headers.update(signing.sign(secrets[:1], body, carrier=carrier))
    return headers


def run(args: argparse.Namespace, settings: Settings) -> int:
    """POST the body and print the answer; exit 0 on 2xx."""
    body = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    keys_file = args.keys_file or settings.webhooks.ingest_keys_file
    ndjson = args.file.endswith((".ndjson", ".jsonl"))
    headers = request_headers(body, args.carrier, keys_file, ndjson)
    if keys_file is None:
        print("warning: no key file: sending unsigned", file=sys.stderr)
    url = (args.url or f"http://{settings.web_host}:{settings.web_port}").rstrip("/")
    try:
        r = httpx.post(f"{url}/ingest", content=body, headers=headers, timeout=args.timeout)
    except httpx.HTTPError as exc:
        msg = f"cannot reach {url}/ingest: {exc}"
        raise ShipstreamError(msg) from exc
    try:
        print(json.dumps(r.json(), indent=2))
    except ValueError:
        print(r.text)
    if r.status_code >= 300:
        retry = r.headers.get("Retry-After")
        extra = f" (Retry-After: {retry} s)" if retry else ""
        print(f"HTTP {r.status_code}{extra}", file=sys.stderr)
        return 1
    return 0
