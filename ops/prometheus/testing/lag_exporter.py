"""``shipstream_consumer_lag`` of chosen groups on a /metrics endpoint, sampled in a thread.

Why a test needs it: a worker exports the lag of its own group only
(``streams.monitoring.exporter``), so when the last worker of a role is down nothing exports
that role's lag, and Prometheus marks the stopped worker's series stale on its first failed
scrape. In production a surviving instance of the role (or KEDA, which reads the broker) keeps
the number visible; in a test with one worker per role this exporter plays that part, with the
same sampler, gauge and writer the workers use.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from streams.metrics import Metrics
from streams.monitoring.lag import LagGaugeWriter, LagSampleError, LagSampler

log = logging.getLogger(__name__)


class LagExporter:
    """Serves ``GET /metrics`` on 127.0.0.1 with the lag of ``groups``, resampled every interval."""

    def __init__(self, broker: str, groups: Sequence[str], interval: float = 2.0) -> None:
        self.metrics = Metrics()
        self.sampler = LagSampler(broker, groups=list(groups), timeout=5.0)
        self.writer = LagGaugeWriter(self.metrics.consumer_lag)
        self.interval = interval
        self._stop = threading.Event()
        metrics = self.metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = metrics.render()
                self.send_response(200 if self.path == "/metrics" else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return  # one line per scrape each second is noise

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.target = f"127.0.0.1:{self._server.server_address[1]}"
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="lag-http", daemon=True),
            threading.Thread(target=self._sample_forever, name="lag-sampler", daemon=True),
        ]

    def _sample_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.writer.update(self.sampler.sample())
            except LagSampleError as exc:
                log.warning("lag not sampled: %s", exc)
            self._stop.wait(self.interval)

    def start(self) -> LagExporter:
        """Start serving and sampling."""
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        """Stop both threads (the sampler within one admin timeout)."""
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        for t in self._threads:
            t.join(15)
