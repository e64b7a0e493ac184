"""The HTTP transport of deliveries against real servers on loopback (aiohttp's, and raw
sockets for answers aiohttp's server would not give): TLS verified against a CA file,
redirects not followed, answers read only up to a cap, Retry-After passed on, connections
kept alive and dropped when the endpoint closes them, failures raised as OSError/TimeoutError.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer

from streams.agents.communication.http import HttpTransport

Serve = Callable[..., Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[TestServer] = []

    async def start(handler, ssl_context: ssl.SSLContext | None = None) -> str:  # type: ignore[no-untyped-def]
        app = web.Application()
        app.router.add_route("*", "/{p:.*}", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server(ssl=ssl_context)
        servers.append(server)
        scheme = "https" if ssl_context else "http"
        return f"{scheme}://127.0.0.1:{server.port}"

    yield start
    for s in servers:
        await s.close()


async def ok(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def test_https_is_verified_against_the_ca_file(serve: Serve, tmp_path: Path) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    url = await serve(ok, server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    trusted = HttpTransport(5, ca_file=ca_file)
    assert (await trusted(url + "/x", b"{}", {})).status == 200
    untrusted = HttpTransport(5)  # the system's CAs do not know this one
    with pytest.raises(OSError, match="certificate"):
        await untrusted(url + "/x", b"{}", {})
    for t in (trusted, untrusted):
        await t.close()


async def test_redirects_are_returned_not_followed(serve: Serve) -> None:
    followed: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        if request.path == "/elsewhere":
            followed.append(request.path)
            return web.json_response({})
        return web.Response(status=308, headers={"Location": "/elsewhere"})

    url = await serve(handler)
    t = HttpTransport(5)
    reply = await t(url + "/carrier/expedite", b"{}", {})
    assert (reply.status, reply.location, followed) == (308, "/elsewhere", [])
    await t.close()


async def test_answers_are_read_up_to_the_cap_and_retry_after_passed_on(serve: Serve) -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        # An endless answer: reading it whole would hang until the timeout.
        resp = web.StreamResponse(status=503, headers={"Retry-After": "42"})
        await resp.prepare(request)
        try:
            while True:
                await resp.write(b"x" * 65536)
        except (ConnectionError, RuntimeError):
            return resp  # the client stopped reading and closed: what the cap is for

    url = await serve(huge)
    t = HttpTransport(5, max_response_bytes=65536)
    started = time.monotonic()
    reply = await t(url + "/x", b"{}", {})
    assert reply.status == 503 and reply.retry_after_s == 42.0
    assert time.monotonic() - started < 4
    assert not t._idle[("http", "127.0.0.1", int(url.rsplit(":", 1)[1]))]  # not reused
    await t.close()


async def test_the_request_carries_body_and_headers_and_connections_are_kept_alive(
    serve: Serve,
) -> None:
    seen: list[tuple[str, str, str | None, bytes, int]] = []

    async def record(request: web.Request) -> web.Response:
        body = await request.read()
        peer = request.transport.get_extra_info("peername")[1] if request.transport else -1
        seen.append(
            (request.method, request.path_qs, request.headers.get("Idempotency-Key"), body, peer)
        )
        return web.Response(status=409 if len(seen) == 2 else 200)

    url = await serve(record)
    t = HttpTransport(5)
    first = await t(url + "/dispatch/close?x=1", b'{"a": 1}', {"Idempotency-Key": "d-1"})
    second = await t(url + "/dispatch/close?x=1", b"{}", {"Idempotency-Key": "d-2"})
    assert (first.status, second.status) == (200, 409)
    assert [s[:4] for s in seen] == [
        ("POST", "/dispatch/close?x=1", "d-1", b'{"a": 1}'),
        ("POST", "/dispatch/close?x=1", "d-2", b"{}"),
    ]
    assert seen[0][4] == seen[1][4]  # the same client port: one connection for both
    await t.close()


async def _raw_server(
    answer: Callable[[int], bytes | None], close_after: bool = False
) -> tuple[asyncio.Server, str]:
    """A server that reads requests and writes ``answer(n)`` (``n``: the request's number);
    ``None`` closes the connection without an answer, ``close_after`` closes it after each
    answer (a keep-alive timeout that ran out)."""
    count = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            count += 1
            reply = answer(count)
            if reply is None:
                break
            writer.write(reply)
            await writer.drain()
            if close_after or b"connection: close" in reply.lower():
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def test_chunked_answers_and_answers_ended_by_closing_are_read() -> None:
    answers = {
        1: b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        2: b"HTTP/1.1 202 Accepted\r\nConnection: close\r\n\r\nno length, ends at close",
        3: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    }
    server, url = await _raw_server(answers.get)
    t = HttpTransport(5)
    assert [(await t(url + "/x", b"{}", {})).status for _ in range(3)] == [201, 202, 200]
    await t.close()
    server.close()


async def test_a_connection_the_endpoint_closed_is_not_reused() -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    server, url = await _raw_server(lambda _n: ok, close_after=True)
    t = HttpTransport(5)
    assert (await t(url + "/x", b"{}", {})).status == 200
    await asyncio.sleep(0.05)  # the server's close arrives while the connection is idle
    assert (await t(url + "/x", b"{}", {})).status == 200  # on a new connection
    await t.close()
    server.close()


async def test_failures_raise_what_the_deliverer_retries() -> None:
    t = HttpTransport(0.5)
    with pytest.raises(OSError):  # nothing listens there
        await t("http://127.0.0.1:9/x", b"{}", {})
    server, url = await _raw_server(lambda _n: b"HTTP/1.1 200 OK\r\n")  # never finishes
    with pytest.raises(TimeoutError):
        await t(url + "/x", b"{}", {})
    server.close()
    server, url = await _raw_server(lambda _n: None)  # closes without answering
    with pytest.raises(OSError, match="closed"):
        await t(url + "/x", b"{}", {})
    server.close()
    server, url = await _raw_server(lambda _n: b"NOT HTTP AT ALL\r\n\r\n")
    with pytest.raises(OSError, match="unreadable"):
        await t(url + "/x", b"{}", {})
    server.close()
    big = b"HTTP/1.1 200 OK\r\nX-Big: " + b"y" * 70000 + b"\r\nContent-Length: 0\r\n\r\n"
    server, url = await _raw_server(lambda _n: big)
    with pytest.raises(OSError, match="headers larger"):
        await t(url + "/x", b"{}", {})
    server.close()
    await t.close()


async def test_a_header_value_with_a_line_break_is_refused_not_sent() -> None:
    t = HttpTransport(5)
    with pytest.raises(ValueError, match="line break"):
        await t("http://127.0.0.1:9/x", b"{}", {"Idempotency-Key": "d-1\r\nX-Injected: 1"})
