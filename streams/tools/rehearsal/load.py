"""The load of a rehearsal: ``shipstream load``'s profiles and generator, run in a thread.

The thread owns the producer; the sampling loop only reads ``produced`` (an int written by one
thread, read by another: each read sees some recent value, which is all a rate needs).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator

from streams.kafka.events import EventPublisher
from streams.settings import Settings
from streams.tools.loadgen.config import LifecycleConfig
from streams.tools.loadgen.driver import DriveResult, drive
from streams.tools.loadgen.items import Item
from streams.tools.loadgen.options import LoadOptions
from streams.tools.loadgen.stream import generate_items

log = logging.getLogger(__name__)


class LoadRun:
    """Generated events published to the pipeline's input from a background thread."""

    def __init__(self, settings: Settings, options: LoadOptions) -> None:
        self.settings = settings
        self.options = options
        self.profile = options.build_profile()
        self.produced = 0
        self.result: DriveResult | None = None
        self.error: BaseException | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rehearsal-load", daemon=True)

    def start(self) -> LoadRun:
        """Start producing; returns at once."""
        self.started_at = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the load to end early (it stops within one tick)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end."""
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """The thread is still producing."""
        return self._thread.is_alive()

    def target_rate(self, now: float) -> float:
        """The profile's rate at ``now`` (monotonic), 0 outside the run."""
        if self.started_at is None or self.finished_at is not None:
            return 0.0
        return self.profile(now - self.started_at)

    def _items(self) -> Iterator[Item]:
        items = generate_items(
            LifecycleConfig(seed=self.options.seed, concurrency=self.options.concurrency)
        )
        # Ends the stream when asked to stop: the driver then returns as "exhausted".
        return itertools.takewhile(lambda _: not self._stop.is_set(), items)

    def _run(self) -> None:
        try:
            pub = EventPublisher(self.settings)

            def sink(batch: list[Item]) -> None:
                for item in batch:
                    pub.publish_generated(item, self.produced, source="rehearsal")
                    self.produced += 1

            count, duration = self.options.limits()
            self.result = drive(
                self._items(),
                sink,
                self.profile,
                count=count,
                duration_s=duration,
                on_tick=lambda: pub.producer.poll(0),
                progress=False,
            )
            pub.flush()
        except BaseException as exc:  # reported by the runner, which owns the exit code
            log.exception("the rehearsal load failed")
            self.error = exc
        finally:
            self.finished_at = time.monotonic()
