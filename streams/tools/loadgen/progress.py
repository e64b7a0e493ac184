"""A one-line progress display on stderr, so a long load run shows it is alive.

tqdm draws it (carriage return, clearing the rest of the line, the final newline); the line's
text is ours (``render``: the rate now and the target, which tqdm's bar does not know). It
redraws at most ``max_per_second`` times whatever the send rate, timed by the driver's clock
(injectable in tests), and stays silent when stderr is not a terminal (CI logs, pipes), where
a carriage-return line would only add noise.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm


class Progress:
    """Status line: bar (when the end is known), sent, rate now, target, elapsed."""

    def __init__(
        self,
        *,
        total: int | None = None,
        duration_s: float | None = None,
        enabled: bool | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_per_second: float = 4.0,
        width: int = 24,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total = total
        self.duration_s = duration_s
        self.clock = clock
        self.min_interval = 1.0 / max_per_second
        self.width = width
        self._last_draw: float | None = None
        self._line = tqdm(
            file=self.stream,
            disable=not self.enabled,
            bar_format="{desc}",
            mininterval=0,
            leave=True,
        )

    def update(
        self, sent: int, rate_now: float, target: float, elapsed: float, *, force: bool = False
    ) -> None:
        """Redraw if enabled and the last redraw is old enough (or ``force``)."""
        if not self.enabled:
            return
        now = self.clock()
        if not force and self._last_draw is not None and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self._line.set_description_str(self.render(sent, rate_now, target, elapsed))

    def render(self, sent: int, rate_now: float, target: float, elapsed: float) -> str:
        """The status line itself (no control characters), for tests and logs."""
        parts = []
        fraction = self._fraction(sent, elapsed)
        if fraction is not None:
            filled = int(fraction * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            parts.append(f"[{bar}] {fraction:4.0%}")
        of = f"/{self.total:,}" if self.total is not None else ""
        parts.append(f"sent {sent:,}{of}")
        parts.append(f"rate {rate_now:,.0f}/s")
        parts.append(f"target {target:,.0f}/s")
        parts.append(f"{elapsed:,.1f}s")
        return " | ".join(parts)

    def close(self) -> None:
        """End the status line so what is printed next starts on a fresh line."""
        self._line.close()

    def _fraction(self, sent: int, elapsed: float) -> float | None:
        candidates = []
        if self.total:
            candidates.append(sent / self.total)
        if self.duration_s:
            candidates.append(elapsed / self.duration_s)
        return min(1.0, max(candidates)) if candidates else None
