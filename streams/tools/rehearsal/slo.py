"""Service level objectives of a rehearsal and the verdict (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streams.tools.rehearsal.analysis import Figures


@dataclass(frozen=True)
class Objectives:
    """Limits a run must stay within; the defaults are ``shipstream rehearse``'s."""

    #: Worst per-interval p99 of decision latency from ingestion, seconds.
    p99_latency_s: float = 10.0
    #: Largest total lag of the shipstream groups, records.
    max_lag: int = 50_000
    #: Seconds from the end of the load until the lag is back to zero.
    drain_s: float = 120.0


@dataclass(frozen=True)
class Result:
    """One objective checked against the run."""

    name: str
    target: str
    observed: str
    passed: bool


def _seconds(v: float | None) -> str:
    if v is None:
        return "not measured"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.1f} s"


def evaluate(figures: Figures, objectives: Objectives) -> list[Result]:
    """Every objective, in report order. Not measured means failed: no evidence, no pass."""
    p99 = figures.p99_peak_s
    lag = figures.max_lag
    drain = figures.drain_s
    return [
        Result(
            "p99 decision latency (worst interval)",
            f"<= {objectives.p99_latency_s:g} s",
            _seconds(p99),
            p99 is not None and p99 <= objectives.p99_latency_s,
        ),
        Result(
            "max consumer lag (all groups)",
            f"<= {objectives.max_lag:,}",
            "not measured" if lag is None else f"{lag:,}",
            lag is not None and lag <= objectives.max_lag,
        ),
        Result(
            "time to drain after the load",
            f"<= {objectives.drain_s:g} s",
            "did not drain" if drain is None else _seconds(drain),
            drain is not None and drain <= objectives.drain_s,
        ),
    ]


def passed(results: Sequence[Result]) -> bool:
    """The verdict: every objective met."""
    return all(r.passed for r in results)
