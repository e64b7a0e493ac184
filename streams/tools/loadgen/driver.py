"""Pacing a stream of items to a target rate, for load runs.

The driver knows nothing of Kafka or HTTP: the caller passes a sink that takes a batch (a
confluent-kafka producer loop, an HTTP POST of a JSON array, a list in a test). Pacing is a
token bucket refilled at the profile's current rate and drained once per tick, so the process
sleeps between ticks instead of spinning, and a sink slower than the target shows up as a
rate below target instead of as an unbounded catch-up burst.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TextIO, TypeVar

from streams.tools.loadgen.profiles import RateProfile
from streams.tools.loadgen.progress import Progress

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DriveResult:
    """How a run went."""

    sent: int
    elapsed_s: float
    batches: int
    #: The items ran out before the count or duration limit was reached.
    exhausted: bool

    @property
    def average_rate(self) -> float:
        """Items per second over the whole run."""
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


def drive(
    items: Iterable[T],
    sink: Callable[[list[T]], object],
    profile: RateProfile,
    *,
    count: int | None = None,
    duration_s: float | None = None,
    tick_s: float = 0.05,
    burst_s: float = 0.25,
    on_tick: Callable[[], object] | None = None,
    progress: bool | None = None,
    progress_stream: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> DriveResult:
    """Send ``items`` to ``sink`` in batches at ``profile``'s rate until a limit is reached.

    Stops after ``count`` items, after ``duration_s`` seconds, or when ``items`` runs out,
    whichever comes first (with neither limit, an endless iterator runs until interrupted).
    Items are taken from the iterator only as they are sent, so a ``counted`` summary matches
    what the sink got. ``burst_s`` caps the tokens saved up, in seconds of the current rate:
    how much a briefly slow sink may catch up. ``on_tick`` runs every tick, sends or not (a
    producer's ``poll(0)`` to serve delivery callbacks). ``progress``: ``None`` shows the
    status line only on a terminal. ``clock`` and ``sleep`` are injectable for tests.
    """
    if tick_s <= 0 or burst_s <= 0:
        msg = f"tick_s and burst_s must be positive, got {tick_s} and {burst_s}"
        raise ValueError(msg)
    bar = Progress(
        total=count, duration_s=duration_s, enabled=progress, stream=progress_stream, clock=clock
    )
    iterator = iter(items)
    start = last = next_tick = clock()
    deadline = start + duration_s if duration_s is not None else float("inf")
    # Saved-up tokens never hold less than one tick's worth, or long ticks would lose rate.
    burst = max(burst_s, tick_s)
    window: deque[tuple[float, int]] = deque([(start, 0)])
    tokens = 0.0
    sent = batches = 0
    exhausted = False
    target = 0.0
    try:
        while True:
            now = clock()
            elapsed = now - start
            # The epsilon absorbs float rounding of "sleep until the deadline", which can
            # leave the clock a hair short of it.
            if (count is not None and sent >= count) or now >= deadline - 1e-9:
                break
            target = max(0.0, profile(elapsed))
            tokens = min(tokens + target * (now - last), max(1.0, target * burst))
            last = now
            wanted = int(tokens) if count is None else min(int(tokens), count - sent)
            if wanted > 0:
                batch = list(itertools.islice(iterator, wanted))
                if batch:
                    sink(batch)
                    sent += len(batch)
                    tokens -= len(batch)
                    batches += 1
                if len(batch) < wanted:
                    exhausted = True
                    break
            if on_tick is not None:
                on_tick()
            bar.update(sent, _recent_rate(window, clock(), sent), target, elapsed)
            next_tick += tick_s
            now = clock()
            next_tick = min(next_tick, deadline)
            if next_tick > now:
                sleep(next_tick - now)
            else:
                # Behind schedule (slow sink): start afresh rather than firing missed ticks.
                next_tick = now
    finally:
        elapsed = clock() - start
        bar.update(sent, _recent_rate(window, clock(), sent), target, elapsed, force=True)
        bar.close()
    return DriveResult(sent=sent, elapsed_s=elapsed, batches=batches, exhausted=exhausted)


def _recent_rate(window: deque[tuple[float, int]], now: float, sent: int) -> float:
    """Send rate over about the last second; what "rate now" on the status line means."""
    window.append((now, sent))
    while len(window) > 2 and now - window[1][0] >= 1.0:
        window.popleft()
    then, sent_then = window[0]
    return (sent - sent_then) / (now - then) if now > then else 0.0
