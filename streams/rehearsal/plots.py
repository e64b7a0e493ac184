"""PNG plots of a rehearsal: throughput, lag and latency over time.

Drawn with matplotlib's object API on the Agg canvas, without pyplot: no global backend is
chosen and no state is shared, so importing this module does nothing and it is safe in threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from streams.rehearsal.sampling import Sample

SIZE = (10, 4.2)
DPI = 110


def _figure(title: str, ylabel: str) -> tuple[Figure, Axes]:
    fig = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.set_xlabel("seconds since start")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def _load_span(ax: Axes, load_end_s: float) -> None:
    ax.axvspan(0, load_end_s, color="tab:blue", alpha=0.06, label="load running")


def _save(fig: Figure, ax: Axes, path: Path) -> Path:
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right")
    fig.savefig(path)
    return path


def _points(samples: Sequence[Sample], attr: str, scale: float = 1.0) -> tuple[list, list]:
    xs, ys = [], []
    for s in samples:
        v = getattr(s, attr)
        if v is not None:
            xs.append(s.t)
            ys.append(v * scale)
    return xs, ys


def throughput(samples: Sequence[Sample], load_end_s: float, path: Path) -> Path:
    """Produced and processed records per second, and the profile's target."""
    fig, ax = _figure("Throughput", "records / s")
    _load_span(ax, load_end_s)
    ax.step(*_points(samples, "target_rate"), where="post", color="grey", ls="--", label="target")
    ax.plot(*_points(samples, "produced_rate"), marker=".", label="produced")
    ax.plot(*_points(samples, "processed_rate"), marker=".", label="processed (processing stage)")
    return _save(fig, ax, path)


def lag(samples: Sequence[Sample], load_end_s: float, limit: int, path: Path) -> Path:
    """Total consumer lag of the shipstream groups, with the SLO limit when in view."""
    fig, ax = _figure("Consumer lag (all shipstream groups)", "records")
    _load_span(ax, load_end_s)
    xs, ys = _points(samples, "lag")
    ax.plot(xs, ys, marker=".", color="tab:red", label="total lag")
    if ys and max(ys) >= limit / 2:
        ax.axhline(limit, color="black", ls=":", label=f"SLO {limit:,}")
    return _save(fig, ax, path)


def latency(samples: Sequence[Sample], load_end_s: float, limit_s: float, path: Path) -> Path:
    """Decision latency p50 and p99 per interval, with the p99 SLO."""
    fig, ax = _figure("Decision latency from ingestion, per interval", "seconds")
    _load_span(ax, load_end_s)
    ax.plot(*_points(samples, "p50_s"), marker=".", label="p50")
    ax.plot(*_points(samples, "p99_s"), marker=".", color="tab:purple", label="p99")
    ax.axhline(limit_s, color="black", ls=":", label=f"p99 SLO {limit_s:g} s")
    return _save(fig, ax, path)
