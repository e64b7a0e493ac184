"""From cumulative observations to per-interval samples: rates, lag, latency quantiles.

Pure: no I/O, no clock. Counters are differenced worker by worker, so a worker that restarted
(its counter went down) counts from zero instead of making a negative rate, and a worker that
missed a scrape is differenced against the last values it did report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from streams.tools import histogram
from streams.tools.rehearsal.sources import Counters

Buckets = Mapping[float, float]


@dataclass(frozen=True)
class Observation:
    """What was read at one moment of the rehearsal."""

    #: Seconds since the rehearsal started.
    t: float
    #: Records produced by the load so far (cumulative).
    produced: int
    counters: Counters
    #: Lag per consumer group; ``None`` when the broker did not answer.
    lag_by_group: Mapping[str, int] | None
    #: The load was still running.
    loading: bool
    #: The profile's target rate at ``t`` (0 once the load ended).
    target_rate: float = 0.0

    @property
    def lag(self) -> int | None:
        """Total lag of the groups."""
        return None if self.lag_by_group is None else sum(self.lag_by_group.values())


@dataclass(frozen=True)
class Sample:
    """One interval, ending at ``t``."""

    t: float
    produced_rate: float
    #: Records/s through the processing stage; ``None`` when no worker answered.
    processed_rate: float | None
    lag: int | None
    #: Decision latency quantiles (seconds) of the decisions made in the interval.
    p50_s: float | None
    p99_s: float | None
    decisions: float
    loading: bool
    target_rate: float = 0.0
    lag_by_group: Mapping[str, int] = field(default_factory=dict)


def counter_delta(previous: float | None, current: float) -> float:
    """Increase of a counter; after a reset (it went down) the current value is the increase."""
    if previous is None:
        return current
    return current - previous if current >= previous else current


def buckets_delta(previous: Buckets | None, current: Buckets) -> dict[float, float]:
    """Bucket-wise increase of a cumulative histogram, with the same reset rule as counters.

    A reset is judged on the +Inf bucket (the total count), so the buckets stay consistent.
    """
    if previous is None or _count(current) < _count(previous):
        return dict(current)
    return {le: max(0.0, v - previous.get(le, 0.0)) for le, v in current.items()}


def _count(b: Buckets) -> float:
    return max(b.values()) if b else 0.0


@dataclass
class Differ:
    """Turns a sequence of observations into samples, remembering each worker's last values.

    The first observation is the baseline (no sample). A worker first seen later counts from
    zero: a worker started during the rehearsal did all its work in it.
    """

    quantiles: tuple[float, float] = (0.5, 0.99)
    _last: Observation | None = None
    _processed: dict[str, float] = field(default_factory=dict)
    _latency: dict[str, Buckets] = field(default_factory=dict)
    #: Latency buckets of every decision since the baseline (whole-run quantiles).
    total_latency: dict[float, float] = field(default_factory=dict)

    def advance(self, obs: Observation) -> Sample | None:
        """The sample for the interval ending at ``obs``; ``None`` for the baseline."""
        last, self._last = self._last, obs
        processed = self._advance_processed(obs.counters.processed, baseline=last is None)
        latency = self._advance_latency(obs.counters.latency, baseline=last is None)
        if last is None:
            return None
        dt = obs.t - last.t
        if dt <= 0:
            msg = f"observations must move forward in time ({last.t} then {obs.t})"
            raise ValueError(msg)
        for le, v in latency.items():
            self.total_latency[le] = self.total_latency.get(le, 0.0) + v
        p_lo, p_hi = self.quantiles
        return Sample(
            t=obs.t,
            produced_rate=max(0, obs.produced - last.produced) / dt,
            processed_rate=None if processed is None else processed / dt,
            lag=obs.lag,
            p50_s=histogram.quantile(p_lo, latency),
            p99_s=histogram.quantile(p_hi, latency),
            decisions=_count(latency),
            loading=obs.loading,
            target_rate=obs.target_rate,
            lag_by_group=dict(obs.lag_by_group or {}),
        )

    def _advance_processed(self, current: Mapping[str, float], *, baseline: bool) -> float | None:
        if not current:
            return None
        total = 0.0
        for worker, value in current.items():
            previous = self._processed.get(worker)
            if previous is None and baseline:
                previous = value
            total += counter_delta(previous, value)
            self._processed[worker] = value
        return total

    def _advance_latency(self, current: Mapping[str, Buckets], *, baseline: bool) -> Buckets:
        deltas = []
        for worker, buckets in current.items():
            previous = self._latency.get(worker)
            if previous is None and baseline:
                previous = buckets
            deltas.append(buckets_delta(previous, buckets))
            self._latency[worker] = dict(buckets)
        return histogram.merge(deltas)
