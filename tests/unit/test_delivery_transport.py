"""The aiohttp transport of deliveries against real servers on loopback: TLS verified against
a CA file, redirects not followed, answers read only up to a cap, Retry-After passed on.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer

from streams.agents.communication.agent import AiohttpTransport

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

    trusted = AiohttpTransport(ca_file=ca_file)
    assert (await trusted(url + "/x", b"{}", {})).status == 200
    untrusted = AiohttpTransport()  # the system's CAs do not know this one
    with pytest.raises(OSError, match="certificate"):
        await untrusted(url + "/x", b"{}", {})
    for t in (trusted, untrusted):
        assert t.session is not None
        await t.session.close()


async def test_redirects_are_returned_not_followed(serve: Serve) -> None:
    followed: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        if request.path == "/elsewhere":
            followed.append(request.path)
            return web.json_response({})
        return web.Response(status=308, headers={"Location": "/elsewhere"})

    url = await serve(handler)
    t = AiohttpTransport()
    reply = await t(url + "/carrier/expedite", b"{}", {})
    assert (reply.status, reply.location, followed) == (308, "/elsewhere", [])
    assert t.session is not None
    await t.session.close()


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
    t = AiohttpTransport(timeout_s=5)
    started = time.monotonic()
    reply = await t(url + "/x", b"{}", {})
    assert reply.status == 503 and reply.retry_after_s == 42.0
    assert time.monotonic() - started < 4
    assert t.session is not None
    await t.session.close()
