"""report.md wording and the report directory with its plots (no network)."""

from __future__ import annotations

import math
from pathlib import Path

from streams.tools.rehearsal import analysis, report, slo
from streams.tools.rehearsal.sampling import Sample

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

SAMPLES = [
    Sample(5, 100, 90, 300, 0.3, 2.0, 400, True, 100),
    Sample(10, 100, 110, 150, 0.4, 3.5, 450, True, 100),
    Sample(12, 0, 75, 0, None, None, 0, False, 0),
]
FIGURES = analysis.compute(
    SAMPLES,
    profile="constant 100/s, at most 1,000 records; seed 0, 2000 in flight",
    produced=1000,
    load_s=10.0,
    interval_s=5.0,
    total_latency={0.5: 500.0, 5.0: 850.0, math.inf: 850.0},
)
CONTEXT = report.Context(
    started_at="2026-11-25T10:00:00+00:00",
    metrics_from="http://127.0.0.1:6066/metrics",
    groups="shipstream-all",
)


def test_render_states_figures_slos_and_verdict() -> None:
    results = slo.evaluate(FIGURES, slo.Objectives())
    text = report.render(FIGURES, results, CONTEXT)
    assert text.startswith("# Rehearsal report — PASS\n")
    assert "constant 100/s" in text
    assert "| produced | 100/s | 100/s (during the load) |" in text
    assert "| decision latency p99 | 3,500 ms |" in text
    assert "- **Max total lag:** 300 records at 5 s" in text
    assert "- **Time to drain after the load:** 2.0 s" in text
    assert "| p99 decision latency (worst interval) | <= 10 s | 3.5 s | PASS |" in text
    assert "![lag](lag.png)" in text
    assert text.rstrip().endswith("**Verdict: PASS** — all 3 objectives met.")


def test_a_missed_objective_is_named_in_the_verdict() -> None:
    results = slo.evaluate(FIGURES, slo.Objectives(max_lag=100))
    text = report.render(FIGURES, results, CONTEXT)
    assert text.startswith("# Rehearsal report — FAIL")
    assert "| max consumer lag (all groups) | <= 100 | 300 | FAIL |" in text
    assert report.verdict_line(results) == (
        "**Verdict: FAIL** — missed: max consumer lag (all groups)."
    )


def test_notes_are_listed() -> None:
    ctx = report.Context("t", "m", "g", notes=("the lag had not drained 240 s after the load",))
    assert "- the lag had not drained" in report.render(
        FIGURES, slo.evaluate(FIGURES, slo.Objectives()), ctx
    )


def test_write_makes_the_report_directory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    objectives = slo.Objectives()
    path = report.write(
        out, SAMPLES, FIGURES, slo.evaluate(FIGURES, objectives), objectives, CONTEXT
    )
    assert path == out / "report.md"
    for name in report.PLOTS:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert len(data) > 10_000, f"{name} looks empty"
    rows = (out / "samples.csv").read_text().splitlines()
    assert rows[0].startswith("t,produced_rate,processed_rate,lag,p50_s,p99_s")
    assert len(rows) == 1 + len(SAMPLES)


def test_plots_cope_with_nothing_measured(tmp_path: Path) -> None:
    blind = [Sample(5, 10, None, None, None, None, 0, True)]
    figures = analysis.compute(
        blind, profile="p", produced=50, load_s=5, interval_s=5, total_latency={}
    )
    objectives = slo.Objectives()
    report.write(tmp_path, blind, figures, slo.evaluate(figures, objectives), objectives, CONTEXT)
    assert all((tmp_path / n).read_bytes().startswith(PNG_MAGIC) for n in report.PLOTS)


def test_several_groups_are_broken_down(tmp_path: Path) -> None:
    samples = [
        Sample(5, 100, 90, 500, 0.3, 2.0, 10, True, 100, {"s-processing": 100, "s-decision": 400}),
        Sample(10, 0, 90, 0, 0.3, 2.0, 10, False, 0, {"s-processing": 0, "s-decision": 0}),
    ]
    figures = analysis.compute(
        samples, profile="p", produced=500, load_s=5, interval_s=5, total_latency={}
    )
    assert figures.max_lag_by_group == {"s-decision": 400, "s-processing": 100}
    objectives = slo.Objectives()
    path = report.write(
        tmp_path, samples, figures, slo.evaluate(figures, objectives), objectives, CONTEXT
    )
    assert "largest per group: s-decision 400, s-processing 100" in path.read_text()
    csv_rows = (tmp_path / "samples.csv").read_text().splitlines()
    assert csv_rows[1].endswith("s-processing=100 s-decision=400")
