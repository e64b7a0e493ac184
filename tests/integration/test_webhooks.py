"""Webhooks in and out on the real stack: signed ``POST /ingest`` and signed deliveries.

Two workers (role ``all``), each with keys generated for the test (none lives in git):

- ``signed``: ``SHIPSTREAM_INGEST_AUTH=hmac`` with a small rate limit and records cap, and
  deliveries signed for the reference endpoint (``ops/endpoint/server.py --keys-file``) —
  except ``/dispatch/close``, whose key the endpoint does not know (its deliveries are refused
  401, as a tampered or forged one would be);
- ``flaky``: deliveries to a local HTTP server of this test that fails with ``Retry-After``
  then recovers, never recovers, or redirects, with a retry budget of seconds.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from streams import signing
from streams.codecs.avro import AvroSerde
from streams.kafka import admin, reader
from streams.settings import Settings
from streams.topics import ACTIONS
from tests.integration.conftest import ROOT, Worker, provision

pytestmark = pytest.mark.integration

T0 = 1_732_838_400_000  # 2024-11-29T00:00:00Z


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _key() -> str:
    return secrets.token_hex(32)


def _write(path: Path, keys: dict[str, list[str]]) -> Path:
    path.write_text(json.dumps(keys))
    path.chmod(0o600)
    return path


def _settings(
    base: Settings, tmp: Path, tag: str, endpoint_url: str, hooks: dict[str, object]
) -> Settings:
    s = base.with_(
        topic_prefix=f"{tag}.",
        app_id=tag,
        partitions=2,
        data_dir=tmp / "data",
        web_port=_free_port(),
        endpoint_url=endpoint_url,
        standby_replicas=0,
        **hooks,
    )
    provision(s)
    return s


def _drop_topics(settings: Settings, tag: str) -> None:
    names = [t for t in admin.admin(settings).list_topics(timeout=10).topics if t.startswith(tag)]
    admin.delete_topics(settings, names)


def ev(sid: str, n: int, etype: str, **fields: object) -> dict[str, object]:
    return {
        "event_id": f"{sid}-{n}",
        "shipment_id": sid,
        "event_type": etype,
        "occurred_at": T0 + n * 60_000,
        "source": "carrier:acme",
        **fields,
    }


def hold_and_close(sid: str) -> list[dict[str, object]]:
    """CREATED, then an ADDRESS_ISSUE (R2: HOLD), then DELIVERED (R6: CLOSE)."""
    return [
        ev(sid, 0, "CREATED", destination="NE", service_level="STANDARD"),
        ev(sid, 1, "EXCEPTION", exception_code="ADDRESS_ISSUE"),
        ev(sid, 2, "DELIVERED"),
    ]


def actions_of(settings: Settings, prefix: str) -> list[dict[str, object]]:
    serde = AvroSerde(settings, ACTIONS)
    out = [serde.decode(r.value) for r in reader.read_all(settings, settings.topic(ACTIONS.name))]
    return [a for a in out if str(a["shipment_id"]).startswith(prefix)]


def wait_actions(
    settings: Settings, prefix: str, n: int, timeout: float
) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    got = actions_of(settings, prefix)
    while len(got) < n and time.monotonic() < deadline:
        time.sleep(1)
        got = actions_of(settings, prefix)
    return got


# --- the signed worker and the reference endpoint ------------------------------------------------


@pytest.fixture(scope="module")
def signed(
    base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Worker, str, str, str]]:
    tmp = tmp_path_factory.mktemp("webhooks-signed")
    tag = f"whs{int(time.time() * 1000) % 10**8}"
    carrier_key, old_key, endpoint_key = _key(), _key(), _key()
    ingest_keys = _write(tmp / "ingest.json", {"acme": [carrier_key, old_key]})
    # The worker signs /dispatch/close with a key the endpoint does not hold.
    delivery_keys = _write(
        tmp / "delivery.json", {"*": [endpoint_key], "/dispatch/close": [_key()]}
    )
    endpoint_keys = _write(tmp / "endpoint.json", {"*": [endpoint_key]})
    ep_port = _free_port()
    hooks: dict[str, object] = dict(
        ingest_auth="hmac",
        ingest_keys_file=ingest_keys,
        ingest_rate_per_s=5,
        ingest_rate_burst=20,
        ingest_max_records=20,
        ingest_max_in_flight=2,
        ingest_read_timeout_s=2,
        delivery_keys_file=delivery_keys,
    )
    settings = _settings(base_settings, tmp, tag, f"http://127.0.0.1:{ep_port}", hooks)
    endpoint = subprocess.Popen(
        [sys.executable, "-m", "ops.endpoint.server", "--port", str(ep_port)]
        + ["--keys-file", str(endpoint_keys)],
        cwd=ROOT,
        stdout=(tmp / "endpoint.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    worker = Worker(settings, tmp / "worker.log").start()
    try:
        yield worker, settings.endpoint_url, carrier_key, old_key
    finally:
        worker.stop()
        endpoint.terminate()
        endpoint.wait(10)
        _drop_topics(settings, tag)


def post(url: str, events: list[dict[str, object]], key: str | None, **sign: object):
    body = json.dumps(events).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers.update(signing.sign([key.encode()], body, carrier="acme", **sign))  # type: ignore[arg-type]
    return httpx.post(f"{url}/ingest", content=body, headers=headers, timeout=30)


def test_unsigned_forged_and_replayed_webhooks_are_refused_401(signed) -> None:
    worker, _, carrier_key, _ = signed
    events = hold_and_close("WH-NO")
    unsigned = post(worker.url, events, None)
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "signature_missing"
    assert "X-Shipstream-Carrier" in unsigned.json()["message"]
    forged = post(worker.url, events, _key())
    assert forged.status_code == 401 and forged.json()["error"] == "signature_mismatch"
    replayed = post(worker.url, events, carrier_key, now=time.time() - 3600)
    assert replayed.status_code == 401 and replayed.json()["error"] == "signature_stale"
    # A valid signature over another body does not carry over to this one.
    body = json.dumps(events).encode()
    headers = signing.sign([carrier_key.encode()], b"[]", carrier="acme")
    tampered = httpx.post(f"{worker.url}/ingest", content=body, headers=headers)
    assert tampered.status_code == 401 and tampered.json()["error"] == "signature_mismatch"
    time.sleep(3)
    assert httpx.get(f"{worker.url}/shipments/WH-NO").status_code == 404  # nothing got in
    metrics = httpx.get(f"{worker.url}/metrics").text
    assert (
        'shipstream_ingest_refused_total{reason="signature_mismatch",status="401"} 2.0' in metrics
    )


def test_a_signed_webhook_is_accepted_and_its_decisions_delivered_signed(signed) -> None:
    worker, endpoint, carrier_key, old_key = signed
    r = post(worker.url, hold_and_close("WH-OK"), carrier_key)
    assert r.status_code == 202 and r.json()["accepted"] == 3, r.text
    r = post(worker.url, [ev("WH-OLD", 0, "CREATED")], old_key)  # a key being rotated out
    assert r.status_code == 202, r.text
    got = wait_actions(worker.settings, "WH-OK", 2, timeout=90)
    by_action = {a["action"]: a for a in got}
    assert by_action["HOLD"]["status"] == "DELIVERED"  # signed, verified by the endpoint
    # /dispatch/close is signed with a key the endpoint does not hold: refused, not retried.
    assert by_action["CLOSE"]["status"] == "FAILED_PERMANENT"
    assert by_action["CLOSE"]["http_status"] == 401
    received = httpx.get(f"{endpoint}/received").json()
    assert received["applied"] >= 1 and received["unauthorized"] >= 1
    assert received["by_path"]["/dispatch/close"]["unauthorized"] == 1
    assert received["by_path"]["/dispatch/hold"]["applied"] == 1
    state = httpx.get(f"{worker.url}/shipments/WH-OK").json()
    assert state["closed"] is True


def test_shipstream_post_signs_with_the_key_file(signed, tmp_path) -> None:
    worker, _, carrier_key, old_key = signed
    keys = _write(tmp_path / "client-keys.json", {"acme": [carrier_key, old_key]})
    body = tmp_path / "webhook.ndjson"
    body.write_text("\n".join(json.dumps(e) for e in [ev("WH-CLI", 0, "CREATED")]) + "\n")
    cli = [str(Path(sys.executable).parent / "shipstream"), "post", str(body), "--url", worker.url]
    ok = subprocess.run(
        [*cli, "--carrier", "acme", "--keys-file", str(keys)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["accepted"] == 1, ok.stderr
    unsigned = subprocess.run(cli, capture_output=True, text=True, timeout=60, check=False)
    assert unsigned.returncode == 1 and "HTTP 401" in unsigned.stderr
    assert "signature_missing" in unsigned.stdout


def test_a_tampered_delivery_is_refused_by_the_endpoint(signed) -> None:
    _, endpoint, _, _ = signed
    before = httpx.get(f"{endpoint}/received").json()["unauthorized"]
    body = b'{"action": "HOLD"}'
    headers = {"Idempotency-Key": "tampered-1", **signing.sign([_key().encode()], body)}
    r = httpx.post(f"{endpoint}/dispatch/hold", content=body, headers=headers)
    assert r.status_code == 401 and r.json()["reason"] == "signature_mismatch"
    r = httpx.post(f"{endpoint}/dispatch/hold", content=body, headers={"Idempotency-Key": "t-2"})
    assert r.status_code == 401 and r.json()["reason"] == "signature_missing"
    assert httpx.get(f"{endpoint}/received").json()["unauthorized"] == before + 2


def test_too_many_records_413_and_rate_limit_429(signed) -> None:
    worker, _, carrier_key, _ = signed
    many = [ev("WH-MANY", n, "CREATED") for n in range(21)]
    r = post(worker.url, many, carrier_key)
    assert r.status_code == 413 and r.json()["error"] == "too_many_records"
    # Burst 20 at 5 records/s: two full bodies in a row cannot both pass.
    statuses = []
    for i in range(3):
        r = post(worker.url, [ev(f"WH-RATE{i}-", n, "CREATED") for n in range(20)], carrier_key)
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
    assert statuses[-1] == 429, statuses
    assert r.json()["error"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
    time.sleep(int(r.headers["Retry-After"]) + 1)  # what it asked: then it passes
    r = post(worker.url, [ev("WH-LATER", 0, "CREATED")], carrier_key)
    assert r.status_code == 202, r.text


def test_slow_bodies_time_out_and_in_flight_requests_are_capped(signed) -> None:
    worker, _, _, _ = signed
    port = worker.settings.web_port
    head = (
        b"POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n["
    )
    slow = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
    try:
        for s in slow:  # two requests whose bodies never finish hold both slots
            s.sendall(head)
        time.sleep(0.5)
        busy = post(worker.url, [ev("WH-BUSY", 0, "CREATED")], None)
        assert busy.status_code == 503 and busy.json()["error"] == "busy"
        assert busy.headers["Retry-After"] == "1"
        for s in slow:  # the read timeout (2 s) answers them 408 and frees the slots
            answer = s.recv(4096).decode(errors="replace")
            assert answer.startswith("HTTP/1.1 408"), answer
            assert "read_timeout" in answer
    finally:
        for s in slow:
            s.close()
    assert post(worker.url, [ev("WH-BUSY", 0, "CREATED")], None).status_code == 401


@pytest.mark.parametrize(
    "path", ["/router/", "/router/topics/", "/table/", "/graph/", "/assignment/"]
)
def test_faust_default_views_are_not_served(signed, path) -> None:
    worker, _, _, _ = signed
    assert httpx.get(f"{worker.url}{path}").status_code == 404
    assert httpx.get(f"{worker.url}/healthz").status_code == 200
    assert httpx.get(f"{worker.url}/metrics").status_code == 200


def test_faust_table_view_of_a_real_table_is_not_served(signed) -> None:
    worker, _, _, _ = signed
    for name in ("shipments", f"{worker.settings.group_id}-shipments"):
        assert httpx.get(f"{worker.url}/table/{name}/").status_code == 404


# --- the flaky endpoint: Retry-After, the retry budget, redirects --------------------------------


class Flaky:
    """A real HTTP server on loopback, in a thread: per path, fail then recover, or not."""

    def __init__(self, outage_s: float, retry_after_s: int) -> None:
        self.port = _free_port()
        self.outage_s = outage_s
        self.retry_after_s = retry_after_s
        self.hits: list[tuple[float, str, str]] = []  # (monotonic, path, idempotency key)
        self.started = time.monotonic()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        now = time.monotonic()
        self.hits.append((now, request.path, request.headers.get("Idempotency-Key", "")))
        retry = {"Retry-After": str(self.retry_after_s)}
        if request.path == "/dispatch/close":  # a redirect that must not be followed
            location = f"http://127.0.0.1:{self.port}/followed"
            return web.Response(status=307, headers={"Location": location})
        if request.path == "/followed":
            return web.json_response({"followed": True})
        if request.path == "/dispatch/escalate":  # down for good
            return web.json_response({"error": "down"}, status=503, headers=retry)
        if now - self.started < self.outage_s:  # /dispatch/hold: down, then back
            return web.json_response({"error": "outage"}, status=503, headers=retry)
        return web.json_response({"ok": True})

    def _run(self) -> None:
        import asyncio

        async def main() -> None:
            app = web.Application()
            app.router.add_route("*", "/{p:.*}", self.handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            while True:
                await asyncio.sleep(3600)

        asyncio.run(main())

    def start(self) -> Flaky:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def begin_outage(self) -> None:
        self.started = time.monotonic()

    def times(self, path: str) -> list[float]:
        return [t for t, p, _ in self.hits if p == path]


@pytest.fixture(scope="module")
def flaky(
    base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Worker, Flaky]]:
    tmp = tmp_path_factory.mktemp("webhooks-flaky")
    tag = f"whf{int(time.time() * 1000) % 10**8}"
    server = Flaky(outage_s=8.0, retry_after_s=3).start()
    hooks: dict[str, object] = {"delivery_retry_budget_s": 20, "delivery_backoff_cap_s": 2}
    settings = _settings(base_settings, tmp, tag, f"http://127.0.0.1:{server.port}", hooks)
    worker = Worker(settings, tmp / "worker.log").start()
    try:
        yield worker, server
    finally:
        worker.stop()
        _drop_topics(settings, tag)


def test_retry_after_honoured_budget_respected_redirect_not_followed(flaky) -> None:
    worker, server = flaky
    server.begin_outage()  # /dispatch/hold answers 503 Retry-After: 3 for 8 s, then 200
    events = hold_and_close("FL-1") + [ev("FL-2", 0, "EXCEPTION", exception_code="DAMAGED")]
    r = httpx.post(f"{worker.url}/ingest", json=events, timeout=30)  # unsigned: auth none
    assert r.status_code == 202, r.text
    got = wait_actions(worker.settings, "FL-", 3, timeout=120)
    by_action = {a["action"]: a for a in got}
    assert set(by_action) == {"HOLD", "CLOSE", "ESCALATE"}, got

    hold = by_action["HOLD"]
    assert hold["status"] == "DELIVERED" and hold["attempts"] >= 2  # rode out the outage
    gaps = [
        b - a
        for a, b in zip(
            server.times("/dispatch/hold"), server.times("/dispatch/hold")[1:], strict=False
        )
    ]
    assert gaps and min(gaps) >= 2.9, gaps  # never sooner than Retry-After: 3

    esc = by_action["ESCALATE"]
    assert esc["status"] == "FAILED_EXHAUSTED" and "retry budget of 20 s" in str(esc["error"])
    esc_times = server.times("/dispatch/escalate")
    # Attempts while the endpoint's circuit is open are counted without reaching it.
    assert 4 <= len(esc_times) <= esc["attempts"]
    assert esc_times[-1] - esc_times[0] <= 20  # stopped inside the budget
    assert min(b - a for a, b in zip(esc_times, esc_times[1:], strict=False)) >= 2.9

    close = by_action["CLOSE"]
    assert close["status"] == "FAILED_PERMANENT" and close["http_status"] == 307
    assert "redirects are not followed" in str(close["error"])
    assert server.times("/followed") == []
    assert len(server.times("/dispatch/close")) == 1


def test_a_worker_killed_during_an_outage_loses_no_decision(
    base_settings: Settings, tmp_path: Path
) -> None:
    """Deliveries waiting out an outage are unacked: a SIGKILL re-delivers them after restart."""
    tag = f"whk{int(time.time() * 1000) % 10**8}"
    server = Flaky(outage_s=3600.0, retry_after_s=1).start()  # down until told otherwise
    hooks: dict[str, object] = {"delivery_retry_budget_s": 120, "delivery_backoff_cap_s": 2}
    settings = _settings(base_settings, tmp_path, tag, f"http://127.0.0.1:{server.port}", hooks)
    worker = Worker(settings, tmp_path / "worker.log").start()
    restarted: Worker | None = None
    try:
        sids = [f"KILL-{i}" for i in range(12)]
        events = [e for sid in sids for e in hold_and_close(sid)[:2]]  # a HOLD each
        assert httpx.post(f"{worker.url}/ingest", json=events, timeout=30).status_code == 202
        deadline = time.monotonic() + 60
        # Five failures open the endpoint's circuit: the rest wait without reaching it.
        while len(server.times("/dispatch/hold")) < 5:
            assert time.monotonic() < deadline, "the decisions never reached the endpoint"
            time.sleep(0.5)
        time.sleep(3)
        assert actions_of(settings, "KILL-") == []  # all still retrying
        assert worker.proc is not None
        worker.proc.kill()  # SIGKILL while every delivery waits for the endpoint
        worker.proc.wait(10)
        server.outage_s = 0.0  # the endpoint recovers
        restarted = Worker(settings, tmp_path / "worker-2.log").start()
        got = wait_actions(settings, "KILL-", len(sids), timeout=120)
        assert sorted(a["shipment_id"] for a in got) == sorted(sids)
        assert all(a["status"] == "DELIVERED" and a["action"] == "HOLD" for a in got)
    finally:
        for w in (worker, restarted):
            if w is not None:
                w.stop()
        _drop_topics(settings, tag)
