"""Small statistics for benchmark repetitions (pure, unit-tested)."""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, TypeVar

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Summary:
    """Repetitions of one measurement; ``failed`` counts repetitions without a value."""

    n: int
    median: float | None
    minimum: float | None
    maximum: float | None
    mean: float | None
    failed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, rounded to milliseconds."""
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}

    def text(self, unit: str = "s") -> str:
        """``median 4.2s (min 3.9, max 5.0, n=3)`` for the printed report."""
        if self.median is None:
            return f"no value (n={self.n}, failed={self.failed})"
        failed = f", failed={self.failed}" if self.failed else ""
        return (
            f"median {self.median:.2f}{unit} (min {self.minimum:.2f}, max {self.maximum:.2f}, "
            f"n={self.n - self.failed}{failed})"
        )


def summarize(values: Sequence[float | None]) -> Summary:
    """Median, min, max and mean of the values that exist."""
    present = [float(v) for v in values if v is not None]
    failed = len(values) - len(present)
    if not present:
        return Summary(len(values), None, None, None, None, failed)
    return Summary(
        n=len(values),
        median=statistics.median(present),
        minimum=min(present),
        maximum=max(present),
        mean=statistics.fmean(present),
        failed=failed,
    )


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def rate(records: int, seconds: float | None) -> float | None:
    """Records per second, or None without a positive duration."""
    if seconds is None or seconds <= 0:
        return None
    return records / seconds


def parse_counts(text: str) -> list[int]:
    """``"0,1"`` -> ``[0, 1]`` (command-line lists of standby replica counts)."""
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or any(v < 0 for v in values):
        msg = f"expected comma-separated non-negative integers, got {text!r}"
        raise ValueError(msg)
    return values


_LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")
RESTORE_START = "Restoring state from changelog topics"
RESTORE_DONE = "Restore complete!"


def _log_time(line: str) -> datetime | None:
    match = _LOG_TIME.match(line)
    if match is None:
        return None
    # faust logs local wall time without a zone; only differences are used
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")  # noqa: DTZ007


def restore_seconds(lines: Iterable[str]) -> float | None:
    """Seconds from faust's first "Restoring state from changelog topics" to the last "Restore
    complete!" in a worker's log (None when the log lacks either).

    A rebalance during the restore makes faust start it again; the span covers every pass. A
    "Restore complete!" without a pass before it (a later rebalance with nothing to restore)
    does not count.
    """
    start: datetime | None = None
    done: datetime | None = None
    restoring = False  # a pass started and not yet complete
    for line in lines:
        if RESTORE_START in line:
            start = start or _log_time(line)
            restoring = True
        elif restoring and RESTORE_DONE in line:
            done = _log_time(line) or done
            restoring = False
    return None if start is None or done is None else (done - start).total_seconds()


def max_commit_gaps(samples: Sequence[tuple[float, Mapping[K, int | None]]]) -> dict[K, float]:
    """Per key (a partition), the longest time between two advances of its committed offset.

    ``samples`` are (time, committed offsets) in time order. A partition that never advanced
    twice has no gap. During a stop-the-world rebalance every partition's gap grows from the
    commit interval (faust: 2.8 s) to the length of the pause.
    """
    last_value: dict[K, int | None] = {}
    last_move: dict[K, float] = {}
    gaps: dict[K, float] = {}
    for t, offsets in samples:
        for key, value in offsets.items():
            if key in last_value and value != last_value[key]:
                if key in last_move:
                    gaps[key] = max(gaps.get(key, 0.0), t - last_move[key])
                last_move[key] = t
            last_value[key] = value
    return gaps
