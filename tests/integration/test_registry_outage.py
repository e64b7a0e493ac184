"""A registry that stops answering while a worker needs a schema: the worker stays responsive.

The processing worker reaches the real registry through a proxy the test can hold (connections
stay open, nothing is forwarded: a registry that hangs, the worst case for a client with a 10 s
timeout). The first event the worker sees carries a schema id it has not loaded yet, and the
proxy is held just before it is published. The worker must keep serving ``/healthz`` at once
while the lookup hangs (decoding asks the registry off the event loop), must not dead-letter
the event (the registry's outage is not the record's fault), and must apply it once the
registry answers again.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlparse

import httpx
import pytest

from streams.kafka import reader
from streams.kafka.events import EventPublisher
from streams.kafka.reference import publish_hubs
from streams.settings import Settings
from streams.topics import DLQ
from tests.integration.conftest import Worker, provision

pytestmark = pytest.mark.integration

T0 = 1_732_838_400_000
HUBS = [
    {"code": "HUBA", "region": "NE", "capacity_per_window": 50, "alternate": None,
     "transit_hours": {"NE": 10, "SE": 30}},
]  # fmt: skip


class HeldProxy:
    """TCP proxy to ``target``; while :attr:`held` is set it forwards nothing (both ways)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.open = threading.Event()
        self.open.set()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = [self.server]
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self) -> None:
        self.open.clear()

    def release(self) -> None:
        self.open.set()

    def close(self) -> None:
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                self.open.wait()
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@pytest.fixture
def proxy(base_settings: Settings) -> Iterator[HeldProxy]:
    url = urlparse(base_settings.registry_url)
    p = HeldProxy((url.hostname or "127.0.0.1", url.port or 80))
    yield p
    p.release()
    p.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.timeout(300)
def test_a_hanging_registry_neither_stalls_the_worker_nor_loses_the_event(
    settings: Settings, proxy: HeldProxy, worker_factory: Callable[[Settings], Worker]
) -> None:
    if settings.registry_url.startswith("https"):
        pytest.fail("this test proxies plain HTTP; run it on the plain stack")
    base = settings.with_(role="processing", standby_replicas=0)
    provision(base)
    publish_hubs(base, hubs=HUBS)
    pub = EventPublisher(base)  # registers the events schema now, through the real registry
    pub.serde.writer_id()

    url = urlparse(base.registry_url)  # its path too: Apicurio serves the API under one
    proxied = base.with_(
        registry_url=url._replace(netloc=f"127.0.0.1:{proxy.port}").geturl(),
        web_port=_free_port(),
    )
    worker = worker_factory(proxied)  # stopped at teardown whatever happens
    proxy.hold()
    pub.publish(
        {"event_id": "OUT-1-0", "shipment_id": "OUT-1", "event_type": "CREATED",
         "occurred_at": T0, "source": "test", "service_level": "STANDARD",
         "promised_at": T0 + 72 * 3_600_000, "destination": "NE", "origin": "SE"}
    )  # fmt: skip
    pub.flush()

    slowest = 0.0
    deadline = time.monotonic() + 15  # past the registry client's 10 s timeout
    while time.monotonic() < deadline:
        t = time.monotonic()
        r = httpx.get(worker.url + "/healthz", timeout=10)
        slowest = max(slowest, time.monotonic() - t)
        assert r.status_code == 200, r.text
        time.sleep(0.2)
    shipment = httpx.get(worker.url + "/shipments/OUT-1", timeout=10)
    assert shipment.status_code == 404, "applied while the registry could not be asked?"
    assert slowest < 2.0, f"the worker stalled for {slowest:.1f}s while the registry hung"

    proxy.release()
    deadline = time.monotonic() + 60
    while httpx.get(worker.url + "/shipments/OUT-1", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, (
            f"not applied after the registry came back:\n{worker.tail()}"
        )
        time.sleep(0.5)
    dead = list(reader.read_all(base, base.topic(DLQ.name)))  # this test's own DLQ topic
    assert dead == [], "dead-lettered for the registry's outage"
