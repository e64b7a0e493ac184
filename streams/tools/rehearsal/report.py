"""The report directory of a rehearsal: report.md, samples.csv and the plots.

``render`` is pure (figures in, Markdown out) so its wording is unit-tested; ``write`` puts
the files on disk. The plots need matplotlib, which only the ``shipstream[tools]`` extra
installs: ``plots`` is imported when they are drawn, so the rest of the CLI (``shipstream
bootstrap`` in the worker image) runs without it, and ``require_plotting`` says so before a
rehearsal starts rather than after it.
"""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from streams.errors import ShipstreamError
from streams.tools.rehearsal.analysis import Figures
from streams.tools.rehearsal.sampling import Sample
from streams.tools.rehearsal.slo import Objectives, Result, passed

PLOTS = ("throughput.png", "lag.png", "latency.png")


def require_plotting() -> None:
    """Raise, saying what to install, when matplotlib is missing."""
    if importlib.util.find_spec("matplotlib") is None:
        msg = "the rehearsal's plots need matplotlib: pip install 'shipstream[tools]'"
        raise ShipstreamError(msg)


@dataclass(frozen=True)
class Context:
    """Facts about the run that are not measurements."""

    started_at: str
    metrics_from: str
    groups: str
    notes: tuple[str, ...] = ()


def _rate(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.0f}/s"


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 1000:,.0f} ms"


def verdict_line(results: Sequence[Result]) -> str:
    """``**Verdict: PASS**`` or ``**Verdict: FAIL**`` with the objectives missed."""
    if passed(results):
        return f"**Verdict: PASS** — all {len(results)} objectives met."
    missed = ", ".join(r.name for r in results if not r.passed)
    return f"**Verdict: FAIL** — missed: {missed}."


def render(figures: Figures, results: Sequence[Result], context: Context) -> str:
    """report.md."""
    f = figures
    lag = "n/a" if f.max_lag is None else f"{f.max_lag:,} records at {f.max_lag_at_s:.0f} s"
    if len(f.max_lag_by_group) > 1:
        lag += "; largest per group: " + ", ".join(
            f"{g} {v:,}" for g, v in f.max_lag_by_group.items()
        )
    drain = "did not drain" if f.drain_s is None else f"{f.drain_s:.1f} s"
    lines = [
        f"# Rehearsal report — {'PASS' if passed(results) else 'FAIL'}",
        "",
        f"- **Profile:** {f.profile}",
        f"- **Started:** {context.started_at}",
        f"- **Duration:** load {f.load_s:.1f} s, rehearsal {f.duration_s:.1f} s "
        f"(sampled every {f.interval_s:g} s)",
        f"- **Worker metrics from:** {context.metrics_from}",
        f"- **Lag of:** {context.groups}",
        "",
        "## Figures",
        "",
        "| | peak | average |",
        "|---|---:|---:|",
        f"| produced | {_rate(f.produced_peak)} | {_rate(f.produced_avg)} (during the load) |",
        f"| processed | {_rate(f.processed_peak)} | {_rate(f.processed_avg)} (load and drain) |",
        f"| decision latency p50 | {_ms(f.p50_peak_s)} | {_ms(f.p50_run_s)} (whole run) |",
        f"| decision latency p99 | {_ms(f.p99_peak_s)} | {_ms(f.p99_run_s)} (whole run) |",
        "",
        f"- **Records produced:** {f.produced:,}; decisions observed: {f.decisions:,}",
        f"- **Max total lag:** {lag}",
        f"- **Time to drain after the load:** {drain}",
        "",
        "Latency peaks are the worst interval's quantile, interpolated in the histogram's"
        " buckets as Prometheus' `histogram_quantile` does.",
        "",
        "## SLOs",
        "",
        "| objective | target | observed | result |",
        "|---|---|---|---|",
        *(
            f"| {r.name} | {r.target} | {r.observed} | {'PASS' if r.passed else 'FAIL'} |"
            for r in results
        ),
        "",
        "## Plots",
        "",
        "![throughput](throughput.png)",
        "",
        "![lag](lag.png)",
        "",
        "![latency](latency.png)",
        "",
    ]
    if context.notes:
        lines += ["## Notes", "", *(f"- {n}" for n in context.notes), ""]
    lines += [verdict_line(results), ""]
    return "\n".join(lines)


def write_samples(samples: Sequence[Sample], path: Path) -> Path:
    """Every sample as CSV, for a spreadsheet or a second look."""
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[f.name for f in fields(Sample)])
        writer.writeheader()
        for s in samples:
            row = asdict(s)
            row["lag_by_group"] = " ".join(f"{g}={v}" for g, v in s.lag_by_group.items())
            writer.writerow(row)
    return path


def write(
    out_dir: Path,
    samples: Sequence[Sample],
    figures: Figures,
    results: Sequence[Result],
    objectives: Objectives,
    context: Context,
) -> Path:
    """Write the report directory; returns the path of report.md."""
    from streams.tools.rehearsal import plots  # matplotlib: imported only to draw

    out_dir.mkdir(parents=True, exist_ok=True)
    plots.throughput(samples, figures.load_s, out_dir / PLOTS[0])
    plots.lag(samples, figures.load_s, objectives.max_lag, out_dir / PLOTS[1])
    plots.latency(samples, figures.load_s, objectives.p99_latency_s, out_dir / PLOTS[2])
    write_samples(samples, out_dir / "samples.csv")
    report = out_dir / "report.md"
    report.write_text(render(figures, results, context))
    return report
