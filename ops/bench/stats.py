"""Small statistics for benchmark repetitions (pure, unit-tested)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


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
