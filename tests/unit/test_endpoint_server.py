"""The reference endpoint, driven through aiohttp's test client (no real port, no latency)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

# `ops` is not an installed package (pyproject installs streams* and tables* only) and the
# pytest config does not put the repo root on sys.path, so `.venv/bin/pytest` cannot import it.
# Remove these lines once [tool.pytest.ini_options] has `pythonpath = ["."]`.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from ops.endpoint.server import HOST, EndpointConfig, build_app, parse_args  # noqa: E402

Factory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def make_client() -> AsyncIterator[Factory]:
    clients: list[TestClient] = []
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    async def make(**options: object) -> TestClient:
        client = TestClient(TestServer(build_app(EndpointConfig(**options), sleep=fake_sleep)))  # type: ignore[arg-type]
        await client.start_server()
        client.slept = slept  # type: ignore[attr-defined]
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def post(client: TestClient, key: str | None, path: str = "/carrier", body: object = None):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return await client.post(
        path, json=body if body is not None else {"action": "EXPEDITE"}, headers=headers
    )


async def test_applies_once_then_409(make_client):
    client = await make_client()
    first = await post(client, "d-1")
    again = await post(client, "d-1")
    assert first.status == 200 and (await first.json())["status"] == "applied"
    assert again.status == 409 and (await again.json())["status"] == "duplicate"
    summary = await (await client.get("/received")).json()
    assert summary["applied"] == 1 and summary["duplicates"] == 1
    assert summary["keys_applied_twice"] == []
    assert summary["max_posts_per_key"] == 2 and summary["keys_posted_more_than_once"] == 1


async def test_any_path_is_an_endpoint(make_client):
    client = await make_client()
    for path in ("/carrier", "/dispatch", "/notify", "/a/b/c"):
        assert (await post(client, f"k{path}", path)).status == 200
    summary = await (await client.get("/received")).json()
    assert set(summary["by_path"]) == {"/carrier", "/dispatch", "/notify", "/a/b/c"}
    assert summary["by_path"]["/notify"]["applied"] == 1


async def test_missing_key_and_bad_json_are_400_and_not_applied(make_client):
    client = await make_client()
    assert (await post(client, None)).status == 400
    assert (await post(client, "  ")).status == 400
    bad = await client.post("/carrier", data=b"{nope", headers={"Idempotency-Key": "k"})
    assert bad.status == 400 and "not JSON" in (await bad.json())["error"]
    assert (await post(client, "k")).status == 200
    summary = await (await client.get("/received")).json()
    assert summary["failures_by_status"] == {"400": 3} and summary["applied"] == 1


async def test_permanent_failure_path_is_422(make_client):
    client = await make_client(permanent_failure_paths=("/dispatch",))
    assert (await post(client, "k1", "/dispatch")).status == 422
    assert (await post(client, "k1", "/dispatch")).status == 422
    assert (await post(client, "k1", "/carrier")).status == 200


async def test_transient_failures_happen_before_applying(make_client):
    client = await make_client(failure_rate=0.5, seed=4)
    statuses: dict[str, list[int]] = {}
    for n in range(40):
        key = f"d-{n}"
        # A client retrying until done, as the communication agent does.
        while True:
            status = (await post(client, key)).status
            statuses.setdefault(key, []).append(status)
            if status != 503:
                break
        # One more retry after success, as after a lost response: must be a duplicate.
        again = (await post(client, key)).status
        assert again in (409, 503)
    summary = await (await client.get("/received")).json()
    assert summary["applied"] == 40
    assert summary["keys_applied_twice"] == []
    assert summary["failures_by_status"]["503"] > 10
    assert all(s[-1] == 200 for s in statuses.values())


async def test_failure_rate_one_never_applies(make_client):
    client = await make_client(failure_rate=1.0)
    assert {(await post(client, f"k{n}")).status for n in range(10)} == {503}
    assert (await (await client.get("/received")).json())["applied"] == 0


async def test_concurrent_retries_of_one_key_apply_once(make_client):
    client = await make_client()
    responses = await asyncio.gather(*(post(client, "same") for _ in range(20)))
    assert sorted(r.status for r in responses) == [200] + [409] * 19


async def test_latency_is_simulated_with_jitter(make_client):
    client = await make_client(latency_ms=20, jitter_ms=10, seed=1)
    for n in range(20):
        await post(client, f"k{n}")
    assert len(client.slept) == 20
    assert all(0.010 <= s <= 0.030 for s in client.slept)
    assert len(set(client.slept)) > 1


async def test_healthz_reset_and_keys(make_client):
    client = await make_client()
    assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
    await post(client, "a")
    await post(client, "a")
    detail = await (await client.get("/received?keys=1")).json()
    assert detail["posts_by_key"] == {"a": 2}
    assert (await client.delete("/received")).status == 200
    summary = await (await client.get("/received")).json()
    assert summary["requests"] == 0
    assert (await post(client, "a")).status == 200


async def test_records_every_request_as_jsonl(make_client, tmp_path):
    record = tmp_path / "endpoint" / "received.jsonl"
    client = await make_client(record=record)
    await post(client, "k1", "/notify", {"decision_id": "k1"})
    await post(client, "k1", "/notify", {"decision_id": "k1"})
    await post(client, None, "/notify")
    await client.close()
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(r["key"], r["path"], r["status"]) for r in lines] == [
        ("k1", "/notify", 200),
        ("k1", "/notify", 409),
        (None, "/notify", 400),
    ]
    assert lines[0]["body"] == {"decision_id": "k1"}


def test_command_line_and_bind_address():
    config = parse_args(
        "--port 8701 --latency-ms 20 --jitter-ms 10 --failure-rate 0.05 "
        "--record .local/endpoint/received.jsonl --permanent-failure-path /dispatch".split()
    )
    assert config.port == 8701 and config.failure_rate == 0.05
    assert config.latency_ms == 20 and config.jitter_ms == 10
    assert config.permanent_failure_paths == ("/dispatch",)
    assert str(config.record) == ".local/endpoint/received.jsonl"
    assert HOST == "127.0.0.1"


def test_command_line_rejects_bad_rate(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--failure-rate", "2"])
    assert "failure_rate" in capsys.readouterr().err


async def test_signatures_are_verified_per_path_and_bad_ones_counted(make_client, tmp_path):
    import secrets

    from streams import signing

    hold, other = secrets.token_hex(32), secrets.token_hex(32)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"/dispatch/hold": [hold], "*": [other]}))
    client = await make_client(keys_file=keys)
    body = b'{"action": "HOLD"}'

    async def send(path: str, secret: str, tamper: bool = False, key: str = "d-1"):
        headers = {"Idempotency-Key": key, "Content-Type": "application/json"}
        headers.update(signing.sign([secret.encode()], body))
        return await client.post(path, data=body + (b" " if tamper else b""), headers=headers)

    assert (await send("/dispatch/hold", hold)).status == 200
    assert (await send("/dispatch/close", other, key="d-2")).status == 200  # the '*' key
    refused = await send("/dispatch/hold", other, key="d-3")  # another endpoint's key
    assert refused.status == 401
    assert (await refused.json())["reason"] == signing.MISMATCH
    assert (await send("/dispatch/hold", hold, tamper=True, key="d-4")).status == 401
    unsigned = await client.post("/dispatch/hold", data=body, headers={"Idempotency-Key": "d-5"})
    assert unsigned.status == 401 and (await unsigned.json())["reason"] == signing.MISSING
    summary = await (await client.get("/received")).json()
    assert summary["applied"] == 2 and summary["unauthorized"] == 3


async def test_an_outage_answers_503_with_retry_after_then_recovers(make_client):
    client = await make_client(outage_s=0.3, retry_after_s=2)
    first = await post(client, "d-1")
    assert first.status == 503 and first.headers["Retry-After"] == "2"
    await asyncio.sleep(0.35)
    assert (await post(client, "d-1")).status == 200
