"""Reference HTTP endpoint for decision delivery: a stand-in for carrier, dispatch and notify APIs.

It behaves the way SPEC's delivery semantics expect a real idempotent API to: the
``Idempotency-Key`` header is required, a key already applied gets 409 (so a retried delivery
is reported DUPLICATE, never applied twice), a configurable share of requests fail with 503
before anything is applied (transient: the client must retry), and chosen paths fail with 422
(permanent: the client must not). Latency is simulated. Everything received is kept for
``GET /received`` and optionally appended to a JSONL file.

With ``--keys-file`` (the format of ``SHIPSTREAM_DELIVERY_KEYS_FILE``: endpoint path or ``*``
-> secrets) every POST must carry a valid ``X-Shipstream-Signature`` for its path
(``streams.signing``), else it is answered 401 and counted as ``unauthorized``. With
``--outage-s N`` it answers 503 with ``Retry-After: --retry-after-s`` for the first N seconds
after it starts, then recovers: an outage the delivery's retry budget has to ride out.

Run: ``python -m ops.endpoint.server --port 8700 --latency-ms 20 --jitter-ms 10
--failure-rate 0.05 --record .local/endpoint/received.jsonl``. It binds 127.0.0.1 unless
``--host`` says otherwise (the compose deployment binds the container's interfaces): it accepts
anything from anyone and is meant for local runs and tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from ops.endpoint.ledger import Ledger, Outcome
from streams import signing

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """How the endpoint misbehaves."""

    port: int = 8700
    host: str = HOST
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    #: Share of requests answered 503 before being applied.
    failure_rate: float = 0.0
    #: Paths that always answer 422 (a permanently failing endpoint).
    permanent_failure_paths: tuple[str, ...] = ()
    record: Path | None = None
    seed: int | None = None
    #: Key file the signatures are verified against; None accepts unsigned requests.
    keys_file: Path | None = None
    signature_tolerance_s: int = signing.DEFAULT_TOLERANCE_S
    #: Seconds after start during which every POST is answered 503 (a simulated outage).
    outage_s: float = 0.0
    #: ``Retry-After`` sent with the outage's 503s (None: no header).
    retry_after_s: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.failure_rate <= 1.0:
            msg = f"failure_rate must be in [0, 1], got {self.failure_rate}"
            raise ValueError(msg)
        if self.latency_ms < 0 or self.jitter_ms < 0:
            msg = "latency_ms and jitter_ms must not be negative"
            raise ValueError(msg)


@dataclass(slots=True)
class _State:
    config: EndpointConfig
    ledger: Ledger
    rng: random.Random
    sleep: Callable[[float], Awaitable[object]]
    keys: signing.Keys | None
    started: float


STATE = web.AppKey("state", _State)


def build_app(
    config: EndpointConfig,
    *,
    ledger: Ledger | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> web.Application:
    """The aiohttp application; ``sleep`` is injectable so tests need not wait for latency."""
    app = web.Application()
    keys = signing.load_keys(config.keys_file) if config.keys_file else None
    app[STATE] = _State(
        config,
        ledger or Ledger(config.record),
        random.Random(config.seed),
        sleep,
        keys,
        time.monotonic(),
    )
    app.on_startup.append(_open_ledger)
    app.on_cleanup.append(_close_ledger)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/received", _received)
    app.router.add_delete("/received", _reset)
    app.router.add_post("/{path:.*}", _post)
    return app


async def _open_ledger(app: web.Application) -> None:
    app[STATE].ledger.open()


async def _close_ledger(app: web.Application) -> None:
    app[STATE].ledger.close()


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _received(request: web.Request) -> web.Response:
    with_keys = request.query.get("keys", "") in ("1", "true", "yes")
    return web.json_response(request.app[STATE].ledger.summary(with_keys=with_keys))


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE].ledger.reset()
    return web.json_response({"status": "reset"})


async def _post(request: web.Request) -> web.Response:
    state = request.app[STATE]
    config = state.config
    path = request.path
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip() or None
    raw = await request.read()
    body: object
    try:
        body = json.loads(raw) if raw else None
        bad_body = None
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        body = raw.decode("utf-8", "replace")
        bad_body = f"body is not JSON: {exc}"

    delay_ms = config.latency_ms + state.rng.uniform(-config.jitter_ms, config.jitter_ms)
    await state.sleep(max(0.0, delay_ms) / 1000)

    def answer(status: int, outcome: Outcome, **extra: object) -> web.Response:
        state.ledger.record(key, path, status, outcome, body)
        return web.json_response({"status": outcome.value, "key": key, **extra}, status=status)

    if state.keys is not None:
        try:
            signing.verify(
                state.keys.for_path(path),
                raw,
                request.headers.get(signing.TIMESTAMP_HEADER),
                request.headers.get(signing.SIGNATURE_HEADER),
                tolerance_s=config.signature_tolerance_s,
            )
        except signing.SignatureError as exc:
            return answer(401, Outcome.UNAUTHORIZED, error=str(exc), reason=exc.reason)
    if key is None:
        return answer(400, Outcome.BAD_REQUEST, error=f"missing {IDEMPOTENCY_HEADER} header")
    if time.monotonic() - state.started < config.outage_s:
        state.ledger.record(key, path, 503, Outcome.TRANSIENT_FAILURE, body)
        headers = {"Retry-After": str(config.retry_after_s)} if config.retry_after_s else {}
        return web.json_response(
            {"status": Outcome.TRANSIENT_FAILURE.value, "key": key, "error": "outage"},
            status=503,
            headers=headers,
        )
    if bad_body is not None:
        return answer(400, Outcome.BAD_REQUEST, error=bad_body)
    if path in config.permanent_failure_paths:
        return answer(422, Outcome.PERMANENT_FAILURE, error=f"{path} rejects every request")
    if state.rng.random() < config.failure_rate:
        return answer(503, Outcome.TRANSIENT_FAILURE, error="simulated outage, retry later")
    # No await between this check and the record below: concurrent requests with the same
    # key cannot both pass it, which is what makes a double application impossible.
    if state.ledger.is_applied(key):
        return answer(409, Outcome.DUPLICATE)
    return answer(200, Outcome.APPLIED)


def parse_args(argv: Sequence[str] | None = None) -> EndpointConfig:
    """Command-line options to a config."""
    parser = argparse.ArgumentParser(
        prog="python -m ops.endpoint.server",
        description="Reference HTTP endpoint for decision delivery (loopback unless --host).",
    )
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--host", default=HOST, help="address to bind (default: loopback only)")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--failure-rate", type=float, default=0.0, help="share answered 503")
    parser.add_argument(
        "--permanent-failure-path",
        action="append",
        default=[],
        metavar="PATH",
        help="path answered 422, e.g. /dispatch (repeatable)",
    )
    parser.add_argument("--record", type=Path, default=None, help="append requests as JSONL")
    parser.add_argument("--seed", type=int, default=None, help="seed latency and failures")
    parser.add_argument(
        "--keys-file", type=Path, default=None, help="verify signatures with these keys"
    )
    parser.add_argument("--signature-tolerance-s", type=int, default=signing.DEFAULT_TOLERANCE_S)
    parser.add_argument("--outage-s", type=float, default=0.0, help="answer 503 at first")
    parser.add_argument("--retry-after-s", type=int, default=None, help="Retry-After of the 503s")
    args = parser.parse_args(argv)
    try:
        return EndpointConfig(
            port=args.port,
            host=args.host,
            latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms,
            failure_rate=args.failure_rate,
            permanent_failure_paths=tuple(args.permanent_failure_path),
            record=args.record,
            seed=args.seed,
            keys_file=args.keys_file,
            signature_tolerance_s=args.signature_tolerance_s,
            outage_s=args.outage_s,
            retry_after_s=args.retry_after_s,
        )
    except ValueError as exc:
        parser.error(str(exc))
        raise  # unreachable: parser.error exits


def main(argv: Sequence[str] | None = None) -> None:
    """Run the endpoint until interrupted."""
    config = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    log.info("reference endpoint on http://%s:%d (%s)", config.host, config.port, config)
    # No access log: --record keeps every request already, and a log line per request would
    # cost more than the simulated endpoint itself under load.
    web.run_app(build_app(config), host=config.host, port=config.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
