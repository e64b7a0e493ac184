"""(a) Failover: from SIGKILL of a processing worker until its partitions are served again.

Two processing workers (static membership) share an app with state; one is killed and not
restarted, so the survivor must take its partitions over: the group notices after the session
timeout, rebalances, and the survivor restores the partitions' tables from their changelogs
(standby 0) or promotes the replicas it kept (standby 1). Each standby setting has its own app
with the same preloaded state; repetitions alternate between them and start from fresh data
dirs, so both sides see the same conditions.

Reported per repetition: ``assigned_s`` (the survivor's /healthz lists every partition of the
victim and says recovered) and ``served_s`` (the group's committed offsets on all of them moved:
the partitions are processed again; resolution ~ the 2.8 s commit interval).
"""

from __future__ import annotations

import time
from typing import Any

from ops.bench.env import BenchEnv, assigned_inputs
from ops.bench.stats import ratio, summarize
from ops.chaos.harness import input_tps
from ops.chaos.probe import RecoveryTracker, baseline_of, offsets_of
from streams.settings import Settings
from streams.topics import EVENTS


def one_failover(
    env: BenchEnv, settings: Settings, rep: int, rate: float, warm_s: float, timeout: float
) -> dict[str, Any]:
    """Start two fresh workers under load, kill one, time the takeover."""
    fleet = env.fleet(settings.with_(data_dir=settings.data_dir / f"rep{rep}"))
    victim, survivor = fleet.add("processing"), fleet.add("processing")
    victim.start()
    survivor.start()
    victim.wait_ready()
    survivor.wait_ready()
    load = env.load(settings, count=10**9, rate=rate, seed=100 + rep)
    try:
        time.sleep(warm_s)  # commits flowing, standby replicas caught up
        watch = env.watch(settings)
        tps = input_tps(victim, settings)
        baseline = baseline_of(watch.sample(), tps, f"{settings.app_id}-processing")
        events_topic = settings.topic(EVENTS.name)
        wanted = {p for t, p in tps if t == events_topic}
        tracker = RecoveryTracker(baseline)
        assigned_s: float | None = None
        t0 = time.monotonic()
        victim.kill()
        while (elapsed := time.monotonic() - t0) < timeout:
            if assigned_s is None and wanted <= assigned_inputs(survivor, events_topic):
                assigned_s = elapsed
            tracker.observe(time.monotonic() - t0, offsets_of(watch.sample()))
            if tracker.done() and assigned_s is not None:
                break
            time.sleep(0.25)
    finally:
        load.stop()
        load.join()
        fleet.stop_all()
    return {
        "standby": settings.standby_replicas,
        "rep": rep,
        "partitions": len(tps),
        "assigned_s": None if assigned_s is None else round(assigned_s, 2),
        "served_s": None if tracker.recovery_s is None else round(tracker.recovery_s, 2),
        "pending": len(tracker.pending),
    }


def run(env: BenchEnv, reps: int, events: int, rate: float, warm_s: float) -> dict[str, Any]:
    """Standby 0 and 1 side by side; returns the JSON body (and prints the figures)."""
    apps = {s: env.app(f"sb{s}", standby=s) for s in (0, 1)}
    preload = {s: env.preload(app, events) for s, app in apps.items()}
    results: list[dict[str, Any]] = []
    for rep in range(reps):
        for standby in (0, 1):
            results.append(one_failover(env, apps[standby], rep, rate, warm_s, timeout=120))
            print(results[-1], flush=True)  # progress of a long benchmark
    by = {
        s: {
            k: summarize([r[k] for r in results if r["standby"] == s])
            for k in ("assigned_s", "served_s")
        }
        for s in (0, 1)
    }
    served_ratio = ratio(by[0]["served_s"].median, by[1]["served_s"].median)
    assigned_ratio = ratio(by[0]["assigned_s"].median, by[1]["assigned_s"].median)
    return {
        "preload": preload,
        "session_timeout_s": env.session_timeout_s,
        "rate": rate,
        "reps": results,
        "summary": {f"standby{s}": {k: v.as_dict() for k, v in by[s].items()} for s in (0, 1)},
        "ratio_standby0_over_standby1": {"served": served_ratio, "assigned": assigned_ratio},
        "lines": [
            f"failover (SIGKILL -> partitions served again), session timeout "
            f"{env.session_timeout_s:.0f}s, state {preload[0]['changelog_records']} changelog "
            f"records, load {rate:.0f}/s:",
            f"  standby 0: served {by[0]['served_s'].text()}; "
            f"assigned+recovered {by[0]['assigned_s'].text()}",
            f"  standby 1: served {by[1]['served_s'].text()}; "
            f"assigned+recovered {by[1]['assigned_s'].text()}",
            f"  ratio standby0/standby1: served "
            f"{_fmt(served_ratio)}, assigned+recovered {_fmt(assigned_ratio)}",
        ],
    }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"
