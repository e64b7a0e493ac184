"""The figures of a rehearsal, computed from its samples (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streams.tools import histogram
from streams.tools.rehearsal.sampling import Sample


@dataclass(frozen=True)
class Figures:
    """What the report states about a run; ``None`` where nothing was measured."""

    profile: str
    #: Seconds the load ran, and the whole rehearsal (load + drain).
    load_s: float
    duration_s: float
    interval_s: float
    produced: int
    produced_peak: float
    produced_avg: float
    processed_peak: float | None
    processed_avg: float | None
    max_lag: int | None
    max_lag_at_s: float | None
    #: The largest lag each group had (which stage fell behind).
    max_lag_by_group: Mapping[str, int]
    #: Seconds from the end of the load to the first sample with lag <= the drain threshold;
    #: ``None`` when that never happened before the drain timeout.
    drain_s: float | None
    p50_peak_s: float | None
    p99_peak_s: float | None
    #: Quantiles over every decision of the run.
    p50_run_s: float | None
    p99_run_s: float | None
    decisions: int


def _peak(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _max_by_group(samples: Sequence[Sample]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in samples:
        for group, lag in s.lag_by_group.items():
            out[group] = max(out.get(group, 0), lag)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def drain_time(samples: Sequence[Sample], load_end_s: float, threshold: int = 0) -> float | None:
    """Seconds after ``load_end_s`` until a sample showed lag at or below ``threshold``."""
    for s in samples:
        if s.t >= load_end_s and s.lag is not None and s.lag <= threshold:
            return s.t - load_end_s
    return None


def _average(samples: Sequence[Sample], rate: str, start: float, end: float) -> float | None:
    """Time-weighted average of a rate over the samples ending in ``(start, end]``."""
    total = span = 0.0
    previous_t = start
    for s in samples:
        value = getattr(s, rate)
        if s.t > end + 1e-9:
            break
        if value is not None:
            total += value * (s.t - previous_t)
            span += s.t - previous_t
        previous_t = s.t
    return total / span if span > 0 else None


def compute(
    samples: Sequence[Sample],
    *,
    profile: str,
    produced: int,
    load_s: float,
    interval_s: float,
    total_latency: Mapping[float, float],
    drain_threshold: int = 0,
) -> Figures:
    """The figures of a run whose load ended ``load_s`` seconds after the start."""
    lags = [(s.lag, s.t) for s in samples if s.lag is not None]
    max_lag, max_lag_at = max(lags, default=(None, None))
    # over load and drain: every record produced was processed in that span
    processed_avg = _average(samples, "processed_rate", 0.0, samples[-1].t if samples else 0.0)
    return Figures(
        profile=profile,
        load_s=load_s,
        duration_s=samples[-1].t if samples else 0.0,
        interval_s=interval_s,
        produced=produced,
        produced_peak=max((s.produced_rate for s in samples), default=0.0),
        produced_avg=produced / load_s if load_s > 0 else 0.0,
        processed_peak=_peak([s.processed_rate for s in samples]),
        processed_avg=processed_avg,
        max_lag=max_lag,
        max_lag_at_s=max_lag_at,
        max_lag_by_group=_max_by_group(samples),
        drain_s=drain_time(samples, load_s, drain_threshold),
        p50_peak_s=_peak([s.p50_s for s in samples]),
        p99_peak_s=_peak([s.p99_s for s in samples]),
        p50_run_s=histogram.quantile(0.5, total_latency),
        p99_run_s=histogram.quantile(0.99, total_latency),
        decisions=round(max(total_latency.values(), default=0.0)),
    )
