"""Quantiles from Prometheus histogram buckets, as ``histogram_quantile`` computes them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from prometheus_client.parser import text_string_to_metric_families


def parse_buckets(text: str, metric: str, labels: Mapping[str, str]) -> dict[float, float]:
    """Cumulative bucket counts of one series from Prometheus text, summed over workers."""
    out: dict[float, float] = {}
    bucket = f"{metric}_bucket"
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name != bucket or any(sample.labels.get(k) != v for k, v in labels.items()):
                continue
            le = float(sample.labels["le"])  # "+Inf" reads as math.inf
            out[le] = out.get(le, 0.0) + sample.value
    return out


def delta(after: Mapping[float, float], before: Mapping[float, float]) -> dict[float, float]:
    """The observations made between two readings of one worker's cumulative buckets.

    A worker restarted in between counts from zero again (some bucket went down): then all it
    has counted belongs to the later reading.
    """
    if any(after.get(le, 0.0) < count for le, count in before.items()):
        return dict(after)
    return {le: count - before.get(le, 0.0) for le, count in after.items()}


def merge(histograms: Iterable[Mapping[float, float]]) -> dict[float, float]:
    """Sum the buckets of several workers."""
    total: dict[float, float] = {}
    for h in histograms:
        for le, count in h.items():
            total[le] = total.get(le, 0.0) + count
    return total


def quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """Linear interpolation inside the bucket holding the q-th observation."""
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total == 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for le in bounds:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):
                return lower  # like Prometheus: the highest finite bound
            width = count - below
            return lower + (le - lower) * ((rank - below) / width if width else 1.0)
        lower, below = le, count
    return lower
