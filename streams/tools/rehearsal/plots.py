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
from matplotlib.ticker import FuncFormatter

from streams.tools.rehearsal.sampling import Sample

SIZE = (10, 4.6)
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


def _save(fig: Figure, ax: Axes, path: Path, *, log_y: bool = False) -> Path:
    ax.set_xlim(left=0)
    if not log_y:
        ax.set_ylim(bottom=0)
    # below the axes, so it never hides a curve
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=5, frameon=False)
    fig.savefig(path)
    return path


def _points(
    samples: Sequence[Sample], attr: str, *, positive: bool = False
) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for s in samples:
        v = getattr(s, attr)
        if v is not None and (v > 0 or not positive):
            xs.append(s.t)
            ys.append(float(v))
    return xs, ys


def throughput(samples: Sequence[Sample], load_end_s: float, path: Path) -> Path:
    """Produced and processed records per second, and the profile's target."""
    fig, ax = _figure("Throughput", "records / s")
    _load_span(ax, load_end_s)
    ax.plot(*_points(samples, "target_rate"), color="grey", ls="--", label="target")
    ax.plot(*_points(samples, "produced_rate"), marker=".", label="produced")
    ax.plot(*_points(samples, "processed_rate"), marker=".", label="processed (processing stage)")
    return _save(fig, ax, path)


def lag(samples: Sequence[Sample], load_end_s: float, limit: int, path: Path) -> Path:
    """Total consumer lag, each group's when there are several, and the SLO when in view."""
    fig, ax = _figure("Consumer lag (committed offsets, from the broker)", "records")
    _load_span(ax, load_end_s)
    xs, ys = _points(samples, "lag")
    ax.plot(xs, ys, marker=".", color="tab:red", lw=2, label="total")
    groups = sorted({g for s in samples for g in s.lag_by_group})
    if len(groups) > 1:
        for group in groups:
            points = [(s.t, s.lag_by_group[group]) for s in samples if group in s.lag_by_group]
            ax.plot(*zip(*points, strict=True), lw=1, alpha=0.8, label=group)
    if ys and max(ys) >= limit / 2:
        ax.axhline(limit, color="black", ls=":", label=f"SLO {limit:,}")
    return _save(fig, ax, path)


def _duration(seconds: float, _pos: object = None) -> str:
    return f"{seconds * 1000:g} ms" if seconds < 1 else f"{seconds:g} s"


def latency(samples: Sequence[Sample], load_end_s: float, limit_s: float, path: Path) -> Path:
    """Decision latency p50 and p99 per interval against the p99 SLO, on a log scale.

    Log scale: a healthy run sits in tens of milliseconds and the SLO in seconds; on a linear
    axis the curves would be flat lines at the bottom.
    """
    fig, ax = _figure("Decision latency from ingestion, per interval", "latency")
    _load_span(ax, load_end_s)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(_duration))
    ax.plot(*_points(samples, "p50_s", positive=True), marker=".", label="p50")
    ax.plot(*_points(samples, "p99_s", positive=True), marker=".", color="tab:purple", label="p99")
    ax.axhline(limit_s, color="black", ls=":", label=f"p99 SLO {_duration(limit_s)}")
    return _save(fig, ax, path, log_y=True)
