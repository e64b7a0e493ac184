"""POSTs over kept-alive HTTP/1.1 connections, answers parsed by httptools (llhttp).

The communication role sends one request per decision and needs three things of the answer:
its status, ``Retry-After`` and ``Location``. aiohttp's client spent about 100 µs of CPU per
such request on this machine (a raw socket round trip about 40 µs, kernel included), most of
it in building its request and response objects (``python -m ops.bench.http_client``); this
transport writes the request in one buffer and parses the answer with the same C parser
uvicorn uses, so a delivery costs what its round trip costs.

What it keeps of a full client: one pool of idle connections per scheme, host and port (a
connection the server closed leaves the pool when it does), TLS verified against the
system's CAs or a CA file, a total timeout per request (connect included), at most
``max_response_bytes`` of a body read (a longer answer costs its connection, not memory),
redirects never followed (a 3xx is the answer). Connection failures, timeouts and unreadable
answers raise ``OSError``/``TimeoutError``, which the deliverer retries.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httptools

from streams.agents.communication.delivery import Reply, retry_after_s

#: Bytes of status line and headers an answer may have (aiohttp's default field limit x 8).
MAX_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class _Target:
    """What a URL means for the connection and the request line."""

    key: tuple[str, str, int]
    host: str
    port: int
    tls: bool
    head: bytes  # "POST <path> HTTP/1.1\r\nHost: <host>\r\n"


def _target(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"endpoint URL {url!r}: expected http(s)://host[:port]/path"
        raise ValueError(msg)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode("ascii")
    return _Target((parts.scheme, parts.hostname, port), parts.hostname, port, tls, head)


class _Connection(asyncio.Protocol):
    """One connection, one request at a time; the parser's callbacks fill in the answer."""

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[Reply] | None = None
        self._headers_done = False
        self._keep_alive = False
        self._head = 0
        self._body = 0
        self._retry_after: str | None = None
        self._location: str | None = None

    # -- asyncio -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._headers_done and exc is None:
            self._finish()  # an answer without a length ends with its connection
            return
        self._fail(OSError(f"connection closed by the endpoint{f': {exc}' if exc else ''}"))

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(OSError("the endpoint asked to upgrade the connection"))
        except httptools.HttpParserError as exc:
            self._fail(OSError(f"unreadable HTTP answer: {exc}"))

    # -- httptools -----------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head += len(name) + len(value)
        if self._head > MAX_HEAD_BYTES:
            self._fail(OSError(f"HTTP answer headers larger than {MAX_HEAD_BYTES} bytes"))
            return
        lower = name.lower()
        if lower == b"retry-after":
            self._retry_after = value.decode("latin-1")
        elif lower == b"location":
            self._location = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._headers_done = True
        # Only valid during the parser's callbacks.
        self._keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._body += len(body)
        if self._body > self.max_body:
            self._finish()  # the status is known; the rest is not read

    def on_message_complete(self) -> None:
        self._finish()

    # -- requests ------------------------------------------------------------------------

    async def post(self, request: bytes) -> Reply:
        """Send one request and wait for its answer."""
        assert self.transport is not None  # noqa: S101  # connected before use
        self._answer = asyncio.get_running_loop().create_future()
        self._head = self._body = 0
        self._headers_done = self._keep_alive = False
        self._retry_after = self._location = None
        self.transport.write(request)
        return await self._answer

    @property
    def reusable(self) -> bool:
        """Open, and the last answer was read whole and allows keep-alive."""
        return not self.closed and self._keep_alive and self._body <= self.max_body

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _finish(self) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            status = self._parser.get_status_code()
            answer.set_result(Reply(status, retry_after_s(self._retry_after), self._location))
        if self._body > self.max_body:
            self.close()

    def _fail(self, exc: OSError) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_exception(exc)
        self.close()


class HttpTransport:
    """The deliverer's transport: ``await transport(url, body, headers)`` -> ``Reply``."""

    def __init__(
        self,
        timeout_s: float,
        ca_file: Path | None = None,
        max_response_bytes: int = 64 * 1024,
    ) -> None:
        self.timeout_s = timeout_s
        self.ca_file = ca_file
        self.max_response_bytes = max_response_bytes
        self._tls: ssl.SSLContext | None = None
        self._targets: dict[str, _Target] = {}
        self._idle: defaultdict[tuple[str, str, int], list[_Connection]] = defaultdict(list)

    async def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        """POST ``body`` to ``url``; connection failures and timeouts raise OSError/TimeoutError."""
        target = self._targets.get(url)
        if target is None:
            target = self._targets[url] = _target(url)
        request = _request(target.head, body, headers)
        async with asyncio.timeout(self.timeout_s):
            conn = await self._connection(target)
            try:
                reply = await conn.post(request)
            except BaseException:
                conn.close()
                raise
        if conn.reusable:
            self._idle[target.key].append(conn)
        else:
            conn.close()
        return reply

    async def close(self) -> None:
        """Close every idle connection."""
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    async def _connection(self, target: _Target) -> _Connection:
        idle = self._idle[target.key]
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        loop = asyncio.get_running_loop()
        tls = self._context() if target.tls else None
        _, conn = await loop.create_connection(
            lambda: _Connection(self.max_response_bytes),
            target.host,
            target.port,
            ssl=tls,
            server_hostname=target.host if tls else None,
        )
        return conn

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            cafile = str(self.ca_file) if self.ca_file else None
            self._tls = ssl.create_default_context(cafile=cafile)
        return self._tls


def _request(head: bytes, body: bytes, headers: Mapping[str, str]) -> bytes:
    lines = [head, b"Content-Length: %d\r\n" % len(body)]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            msg = f"header {name!r}: a line break or colon where none may be"
            raise ValueError(msg)
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    lines.append(b"\r\n")
    lines.append(body)
    return b"".join(lines)
