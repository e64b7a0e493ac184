"""``shipstream rehearse``: a load profile against the running stack, judged against SLOs.

Runs ``shipstream load``'s profile (same flags), samples every ``--interval`` seconds while it
runs and until the lag has drained: produced and processed records/s, total consumer lag of the
shipstream groups (from the broker), and decision latency p50/p99 per interval (from the
workers' histograms). Writes a report directory (report.md, samples.csv, three PNG plots) and
exits 0 when every objective is met, 1 when one is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path

from streams.errors import ShipstreamError
from streams.kafka.clients import librdkafka_config
from streams.monitoring.lag import LagSampleError, LagSampler
from streams.settings import Settings
from streams.tools.loadgen.arguments import add_load_arguments
from streams.tools.loadgen.options import LoadOptions
from streams.tools.rehearsal import analysis, report, slo
from streams.tools.rehearsal.load import LoadRun
from streams.tools.rehearsal.runner import LagReader, Runner
from streams.tools.rehearsal.sampling import Sample
from streams.tools.rehearsal.sources import (
    CounterSource,
    PrometheusApi,
    SourceError,
    WorkerEndpoints,
    discover_metrics_urls,
)

log = logging.getLogger(__name__)

DEFAULT_TARGETS = Path(".local/prometheus/targets")
DEFAULT_REPORTS = Path(".local/rehearsals")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the sub-command."""
    p = sub.add_parser(
        "rehearse", help="run a load profile, watch throughput, lag and latency, judge SLOs"
    )
    load = p.add_argument_group("load (as `shipstream load`)")
    add_load_arguments(load)
    watch = p.add_argument_group("sampling")
    watch.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    watch.add_argument(
        "--metrics",
        action="append",
        default=[],
        help="a worker's /metrics URL (repeatable; default: the workers registered in "
        f"{DEFAULT_TARGETS}/*.json by ops/workers.sh)",
    )
    watch.add_argument("--targets-dir", type=Path, default=DEFAULT_TARGETS, help=argparse.SUPPRESS)
    watch.add_argument("--prometheus", help="read worker counters from this Prometheus instead")
    watch.add_argument(
        "--drain-timeout", type=float, help="seconds to wait for the drain (default 2 x SLO)"
    )
    objectives = p.add_argument_group("objectives")
    d = slo.Objectives()
    objectives.add_argument("--slo-p99-latency", type=float, default=d.p99_latency_s, help="s")
    objectives.add_argument("--slo-max-lag", type=int, default=d.max_lag, help="records")
    objectives.add_argument("--slo-drain", type=float, default=d.drain_s, help="s")
    p.add_argument(
        "--out", type=Path, help=f"report directory (default {DEFAULT_REPORTS}/<UTC time>)"
    )
    p.set_defaults(run=run)


def counter_source(args: argparse.Namespace) -> CounterSource:
    """Prometheus when asked, else the given or discovered worker endpoints."""
    if args.prometheus:
        return PrometheusApi(args.prometheus)
    urls = list(args.metrics) or discover_metrics_urls(args.targets_dir)
    if not urls:
        msg = (
            f"no worker to watch: none registered in {args.targets_dir} (start some with "
            "`make worker ROLE=all`), or pass --metrics URL or --prometheus URL"
        )
        raise SourceError(msg)
    return WorkerEndpoints(urls)


def lag_reader(sampler: LagSampler) -> LagReader:
    """Lag per group, ``None`` (logged) when the broker does not answer in time."""

    def read() -> dict[str, int] | None:
        try:
            samples = sampler.sample()
        except LagSampleError as exc:
            log.warning("lag not sampled: %s", exc)
            return None
        by_group: dict[str, int] = {}
        for s in samples:
            by_group[s.group] = by_group.get(s.group, 0) + s.lag
        return by_group

    return read


def _progress(s: Sample) -> None:
    def rate(v: float | None) -> str:
        return "n/a" if v is None else f"{v:,.0f}/s"

    def ms(v: float | None) -> str:
        return "n/a" if v is None else f"{v * 1000:,.0f}ms"

    print(
        f"t={s.t:6.1f}s produced {s.produced_rate:8,.0f}/s processed {rate(s.processed_rate):>9}"
        f" lag {s.lag if s.lag is not None else 'n/a':>8} p50 {ms(s.p50_s):>8} p99 {ms(s.p99_s):>8}"
        + ("" if s.loading else "  (draining)"),
        file=sys.stderr,
        flush=True,
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Rehearse, write the report, exit 0 on PASS and 1 on FAIL."""
    report.require_plotting()
    objectives = slo.Objectives(
        p99_latency_s=args.slo_p99_latency, max_lag=args.slo_max_lag, drain_s=args.slo_drain
    )
    options = LoadOptions.from_args(args)
    started = dt.datetime.now(dt.UTC)
    out_dir = args.out or DEFAULT_REPORTS / started.strftime("%Y%m%dT%H%M%SZ")
    source = counter_source(args)
    sampler = LagSampler(librdkafka_config(settings), group_prefix=f"{settings.app_id}-")
    groups = sampler.group_ids()
    runner = Runner(
        load=LoadRun(settings, options),
        counters=source,
        lag=lag_reader(sampler),
        interval=args.interval,
        drain_interval=min(args.interval, 2.0),
        drain_timeout=args.drain_timeout if args.drain_timeout is not None else 2 * args.slo_drain,
        on_sample=_progress,
    )
    result = runner.run()
    if result.load_error is not None:
        msg = f"the load failed: {result.load_error}"
        raise ShipstreamError(msg) from result.load_error
    figures = analysis.compute(
        result.samples,
        profile=options.describe(),
        produced=result.produced,
        load_s=result.load_s,
        interval_s=args.interval,
        total_latency=result.total_latency,
    )
    results = slo.evaluate(figures, objectives)
    notes = []
    if not result.drained:
        notes.append(f"the lag had not drained {runner.drain_timeout:g} s after the load")
    context = report.Context(
        started_at=started.isoformat(timespec="seconds"),
        metrics_from=source.describe(),
        groups=", ".join(sampler.group_ids() or groups) or f"(no group {settings.app_id}-*)",
        notes=tuple(notes),
    )
    path = report.write(out_dir, result.samples, figures, results, objectives, context)
    print(report.verdict_line(results).replace("**", ""))
    print(f"report: {path}")
    return 0 if slo.passed(results) else 1
