"""(b) Rebalance on join: a third processing instance joins two that are busy.

faust's group protocol is eager: on a join every member gives up all its partitions and
processing pauses until the new assignment is recovered. Per repetition: ``ready_s`` (the new
instance's /healthz recovered with partitions assigned) and ``served_s`` (every partition of
the group with new records committed again since the join started). The joiner then leaves
(SIGTERM) and the group settles before the next repetition.
"""

from __future__ import annotations

import time
from typing import Any

from ops.bench.env import BenchEnv
from ops.bench.stats import summarize
from ops.chaos.probe import RecoveryTracker, offsets_of


def run(env: BenchEnv, reps: int, events: int, rate: float, settle_s: float) -> dict[str, Any]:
    """Repeated joins under load; returns the JSON body."""
    settings = env.app("join", standby=1)
    preload = env.preload(settings, events)
    fleet = env.fleet(settings.with_(data_dir=settings.data_dir / "run"))
    for _ in range(2):
        fleet.add("processing").start()
    for w in fleet.workers:
        w.wait_ready()
    load = env.load(settings, count=10**9, rate=rate, seed=200)
    watch = env.watch(settings)
    group = f"{settings.app_id}-processing"
    results: list[dict[str, Any]] = []
    try:
        time.sleep(settle_s)
        for rep in range(reps):
            samples = watch.sample()
            baseline = {(s.topic, s.partition): s.committed for s in samples if s.group == group}
            tracker = RecoveryTracker(baseline)
            joiner = fleet.add("processing")
            t0 = time.monotonic()
            joiner.start()
            ready_s: float | None = None
            while (elapsed := time.monotonic() - t0) < 120:
                body = joiner.health() or {}
                if ready_s is None and body.get("recovered") and body.get("assigned"):
                    ready_s = elapsed
                tracker.observe(time.monotonic() - t0, offsets_of(watch.sample()))
                if ready_s is not None and tracker.done():
                    break
                time.sleep(0.25)
            results.append(
                {
                    "rep": rep,
                    "ready_s": _round(ready_s),
                    "served_s": None
                    if tracker.recovery_s is None
                    else round(tracker.recovery_s, 2),
                    "partitions": len(baseline),
                }
            )
            print(results[-1], flush=True)  # noqa: T201  # progress
            joiner.stop()
            time.sleep(settle_s)
    finally:
        load.stop()
        load.join()
        fleet.stop_all()
    ready = summarize([r["ready_s"] for r in results])
    served = summarize([r["served_s"] for r in results])
    return {
        "preload": preload,
        "rate": rate,
        "reps": results,
        "summary": {"ready_s": ready.as_dict(), "served_s": served.as_dict()},
        "lines": [
            f"join (2 -> 3 processing instances, standby 1, state "
            f"{preload['changelog_records']} changelog records, load {rate:.0f}/s):",
            f"  joiner ready (recovered, assigned): {ready.text()}",
            f"  every partition committed again:    {served.text()}",
        ],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
