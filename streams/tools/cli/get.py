"""``shipstream get SHIPMENT_ID``: a shipment's state, from the workers.

Any processing worker (or ``all`` worker) answers ``GET /shipments/{id}``: faust routes the
request to the instance that owns the shipment's partition, so one URL is enough.
"""

from __future__ import annotations

import argparse
import json
import sys
from urllib.parse import quote

import httpx

from streams.errors import ShipstreamError
from streams.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the sub-command."""
    p = sub.add_parser("get", help="the state of one shipment, from a processing worker")
    p.add_argument("shipment_id")
    p.add_argument(
        "--url",
        help="a processing worker's base URL (default: SHIPSTREAM_WEB_HOST:SHIPSTREAM_WEB_PORT)",
    )
    p.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    p.set_defaults(run=run)


def default_url(settings: Settings) -> str:
    """The worker these settings describe."""
    return f"http://{settings.web_host}:{settings.web_port}"


def shipment_url(base: str, shipment_id: str) -> str:
    """``{base}/shipments/{id}``, the id escaped (ids may hold ``/`` or spaces)."""
    return f"{base.rstrip('/')}/shipments/{quote(shipment_id, safe='')}"


def fetch(url: str, timeout: float) -> httpx.Response:
    """GET with errors that say what to do."""
    try:
        return httpx.get(url, timeout=timeout)
    except httpx.TransportError as exc:
        msg = (
            f"cannot reach a worker at {url} ({exc or type(exc).__name__}); start the stack "
            "with `make up` and a processing worker with `make worker ROLE=processing`"
        )
        raise ShipstreamError(msg) from exc


def is_unknown_shipment(response: httpx.Response) -> bool:
    """A 404 of the shipments route (not a 404 of a worker that lacks the route)."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") == "not_found"


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the state as JSON; exit 1 when the shipment is unknown."""
    url = shipment_url(args.url or default_url(settings), args.shipment_id)
    response = fetch(url, args.timeout)
    if response.status_code == 404:
        if not is_unknown_shipment(response):
            msg = f"{url} has no /shipments route: it is not a processing (or `all`) worker"
            raise ShipstreamError(msg)
        print(f"no shipment {args.shipment_id}", file=sys.stderr)
        return 1
    if response.status_code != 200:
        body = " ".join(response.text.split())[:200]
        hint = " (is it a processing worker, and ready? see /healthz)"
        msg = f"{url} answered HTTP {response.status_code}: {body}{hint}"
        raise ShipstreamError(msg)
    try:
        state = response.json()
    except ValueError as exc:
        msg = f"{url} did not answer JSON: {response.text[:200]!r}"
        raise ShipstreamError(msg) from exc
    print(json.dumps(state, indent=2, sort_keys=True))
    return 0
