"""Figures of one system's run, the derived rates, ratios to the baseline, the table and chart.

Everything but ``chart`` is pure and unit-tested.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ops.bench.stats import rate, ratio

#: The system every ratio is taken against (the issue's yardstick).
BASELINE = "quix-alo"


@dataclass(frozen=True)
class Measurement:
    """What was measured of one system on the input.

    ``wall_s``: from the first input record consumed to the last output of the last stage;
    ``cpu_s``: CPU of every process of the system over that window; ``cpu_total_s``: from
    process start to the end (start-up, imports, group join included); ``peak_rss_kb``: the
    sum of the processes' peak resident memory; ``broker_cpu_s``: the broker's over the window.
    """

    system: str
    label: str
    events: int
    wall_s: float | None
    cpu_s: float | None
    cpu_total_s: float | None = None
    peak_rss_kb: int | None = None
    broker_cpu_s: float | None = None
    processes: int = 1
    guarantee: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def events_per_s(self) -> float | None:
        """Input records per wall-clock second."""
        return rate(self.events, self.wall_s)

    @property
    def events_per_cpu_s(self) -> float | None:
        """Input records per CPU-second of the system's processes."""
        return rate(self.events, self.cpu_s)


def median_runs(measurements: Sequence[Measurement]) -> list[Measurement]:
    """Per system (in first-run order), its run with the median events per CPU-second.

    Repeats are interleaved (every system once, then again), so a drift of the machine over
    the benchmark touches every system alike; the median of each then damps a run disturbed
    by something else. Each chosen run lists every repeat's figures under ``repeats``. An
    even count takes the lower middle; a system with no successful run keeps its first failure.
    """
    by_system: dict[str, list[Measurement]] = {}
    for m in measurements:
        by_system.setdefault(m.system, []).append(m)
    chosen = []
    for runs in by_system.values():
        ok = sorted((m for m in runs if m.error is None), key=lambda m: m.events_per_cpu_s or 0)
        if not ok:
            chosen.append(runs[0])
            continue
        repeats = [
            {
                "events_per_s": _round(m.events_per_s),
                "events_per_cpu_s": _round(m.events_per_cpu_s),
                "cpu_s": _round(m.cpu_s, 2),
                "wall_s": _round(m.wall_s, 2),
                "error": m.error,
            }
            for m in runs
        ]
        median = ok[(len(ok) - 1) // 2]
        chosen.append(replace(median, detail={**median.detail, "repeats": repeats}))
    return chosen


def spread_lines(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every repeat's events per CPU-second, per system measured more than once."""
    out = []
    for r in rows:
        repeats = r["detail"].get("repeats") or []
        if len(repeats) > 1:
            figures = ", ".join(_fmt(x["events_per_cpu_s"], ",.0f") for x in repeats)
            out.append(f"  {r['system']}: {figures} events/CPU-s (median in the table)")
    return ["repeats, in run order:", *out] if out else []


def _round(v: float | None, digits: int = 1) -> float | None:
    return None if v is None else round(v, digits)


def summarize(
    measurements: Sequence[Measurement], baseline: str = BASELINE
) -> list[dict[str, Any]]:
    """One JSON-ready row per system, with rates and the ratios to ``baseline`` (None when
    the baseline was not measured or has no value)."""
    base = next((m for m in measurements if m.system == baseline and m.error is None), None)
    base_wall = None if base is None else base.events_per_s
    base_cpu = None if base is None else base.events_per_cpu_s
    rows = []
    for m in measurements:
        per_event = None if m.cpu_s is None else 1000 * m.cpu_s / m.events
        rows.append(
            {
                **{k: v for k, v in asdict(m).items() if k != "detail"},
                "events_per_s": _round(m.events_per_s),
                "events_per_cpu_s": _round(m.events_per_cpu_s),
                "cpu_ms_per_event": _round(per_event, 3),
                "peak_rss_mb": _round(None if m.peak_rss_kb is None else m.peak_rss_kb / 1024),
                "ratio_events_per_s": _round(ratio(m.events_per_s, base_wall), 3),
                "ratio_events_per_cpu_s": _round(ratio(m.events_per_cpu_s, base_cpu), 3),
                "detail": dict(m.detail),
            }
        )
    return rows


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(rows: Iterable[Mapping[str, Any]], baseline: str = BASELINE) -> list[str]:
    """The printed table, one line per system."""
    head = (
        f"{'system':<44} {'events/s':>9} {'ev/CPU-s':>9} {'CPU s':>7} {'wall s':>7} "
        f"{'RSS MB':>7} {'broker CPU s':>12} {'x ' + baseline + ' (wall, CPU)':>26}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        wall, cpu = r["ratio_events_per_s"], r["ratio_events_per_cpu_s"]
        ratios = f"{_fmt(wall, '.2f')}x, {_fmt(cpu, '.2f')}x"
        line = (
            f"{r['label'][:44]:<44} {_fmt(r['events_per_s'], ',.0f'):>9} "
            f"{_fmt(r['events_per_cpu_s'], ',.0f'):>9} {_fmt(r['cpu_s'], '.1f'):>7} "
            f"{_fmt(r['wall_s'], '.1f'):>7} {_fmt(r['peak_rss_mb'], '.0f'):>7} "
            f"{_fmt(r['broker_cpu_s'], '.1f'):>12} {ratios:>26}"
        )
        if r.get("error"):
            line += f"  FAILED: {r['error']}"
        lines.append(line)
    return lines


def scale_lines(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The scale curve: events/s by processing workers."""
    out = ["scale (processing workers + 1 decision worker):"]
    for r in rows:
        out.append(
            f"  {r['detail'].get('processing_workers', '?')} processing: "
            f"{_fmt(r['events_per_s'], ',.0f')} events/s, "
            f"{_fmt(r['events_per_cpu_s'], ',.0f')} events/CPU-s"
            + (f"  FAILED: {r['error']}" if r.get("error") else "")
        )
    return out


def chart(rows: Sequence[Mapping[str, Any]], path: Path, title: str) -> Path:
    """Two bar charts side by side: events/s (wall) and events per CPU-second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["system"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for ax, key, name in (
        (axes[0], "events_per_s", "events/s (wall)"),
        (axes[1], "events_per_cpu_s", "events per CPU-second"),
    ):
        values = [r[key] or 0 for r in rows]
        colors = ["#d62728" if lbl.startswith("shipstream") else "#1f77b4" for lbl in labels]
        bars = ax.bar(range(len(rows)), values, color=colors)
        ax.set_xticks(range(len(rows)), labels, rotation=30, ha="right")
        ax.set_title(name)
        ax.set_yscale("log")
        for bar, v in zip(bars, values, strict=True):
            ax.annotate(f"{v:,.0f}", (bar.get_x() + bar.get_width() / 2, max(v, 1)),
                        ha="center", va="bottom", fontsize=8)  # fmt: skip
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
