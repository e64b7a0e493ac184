"""The generator at a fixed rate, in a thread, while the harness breaks things.

Records go to Kafka the way ``shipstream load`` sends them: valid events and duplicates keyed
by shipment id, bytes that are not Avro as they are (for processing to dead-letter), and JSON
that fails validation straight to the DLQ (as ``POST /ingest`` would refuse it). The producer
rides out the broker restart: librdkafka queues and retries for ``message.timeout.ms``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field

from streams.agents.ingestion.validation import ValidationError, parse_record
from streams.kafka.events import EventPublisher
from streams.settings import Settings
from streams.tools.loadgen.config import LifecycleConfig
from streams.tools.loadgen.driver import DriveResult, drive
from streams.tools.loadgen.items import Item
from streams.tools.loadgen.profiles import constant
from streams.tools.loadgen.stream import generate_items
from streams.tools.loadgen.summary import StreamSummary, counted

log = logging.getLogger(__name__)


class _Stopped(Exception):
    """Raised inside the driver's sink to end a run early (``LoadRunner.stop``)."""


@dataclass
class LoadRunner:
    """Sends ``count`` items at ``rate``; ``start`` returns at once, ``join`` waits."""

    settings: Settings
    count: int
    rate: float
    seed: int
    concurrency: int
    summary: StreamSummary = field(default_factory=StreamSummary)
    result: DriveResult | None = None
    error: BaseException | None = None
    #: Stop after this many seconds even if ``count`` items were not sent (None: no limit).
    duration_s: float | None = None
    started_at: float = 0.0
    finished_at: float | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        """Start sending in a daemon thread."""
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)
        self._thread.start()

    def done(self) -> bool:
        """All items were handed to the producer and flushed (or the thread failed)."""
        return self._thread is not None and not self._thread.is_alive()

    def stop(self) -> None:
        """Stop sending at the next batch; what was sent is flushed."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread; re-raise what failed in it."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            # Generous delivery timeout: the broker restart must delay records, never drop them.
            publisher = EventPublisher(self.settings, **{"message.timeout.ms": 600_000})
            config = LifecycleConfig(seed=self.seed, concurrency=self.concurrency)
            items = counted(generate_items(config), self.summary)

            def sink(batch: list[Item]) -> None:
                if self._stop.is_set():
                    raise _Stopped
                for i, item in enumerate(batch):
                    if isinstance(item.value, bytes):
                        key = item.key.encode() if item.key else None
                        publisher.publish_raw(key, item.value)
                        continue
                    try:
                        publisher.publish(parse_record(item.value))
                    except ValidationError as exc:
                        raw = json.dumps(item.value, separators=(",", ":")).encode()
                        publisher.reject(raw, exc.reason, exc.message, "chaos-load", i)

            try:
                self.result = drive(
                    items,
                    sink,
                    constant(self.rate),
                    count=self.count,
                    duration_s=self.duration_s,
                    on_tick=lambda: publisher.producer.poll(0),
                    progress=False,
                )
            except _Stopped:
                elapsed = time.monotonic() - self.started_at
                self.result = DriveResult(self.summary.total, elapsed, 0, exhausted=False)
            publisher.flush(timeout=600)
        except BaseException as exc:  # re-raised by join() in the harness
            log.exception("the load thread failed")
            self.error = exc
        finally:
            self.finished_at = time.monotonic()
