"""(b) Rebalance on join: a third processing instance joins two that are busy.

faust's group protocol is eager: on a join every member gives up all its partitions and
processing pauses until the new assignment is recovered. The pause is read from the broker:
committed offsets of every partition are sampled every 0.25 s, and a partition's gap is the
longest time between two advances of its offset. Before the join the gaps are the commit
interval (2.8 s) plus sampling; across the join they grow to the pause. Per repetition:
``ready_s`` (the joiner's /healthz recovered with partitions assigned), ``steady_gap_s``
(median gap in the 15 s before the join), ``pause_s`` (the longest gap of any partition across
the join). The joiner then leaves (SIGTERM) and the group settles before the next repetition.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from ops.bench.env import BenchEnv
from ops.bench.stats import max_commit_gaps, summarize
from ops.chaos.fleet import Worker
from ops.chaos.probe import GroupWatch

Sample = tuple[float, dict[tuple[str, int], int | None]]


def _sample(watch: GroupWatch, group: str, t0: float) -> Sample:
    offsets = {(s.topic, s.partition): s.committed for s in watch.sample() if s.group == group}
    return time.monotonic() - t0, offsets


def one_join(watch: GroupWatch, group: str, joiner: Worker, before_s: float) -> dict[str, Any]:
    """Sample ``before_s`` of steady state, start the joiner, sample until 20 s after ready."""
    t0 = time.monotonic()
    before: list[Sample] = []
    while time.monotonic() - t0 < before_s:
        before.append(_sample(watch, group, t0))
        time.sleep(0.25)
    started = time.monotonic() - t0
    joiner.start()
    during: list[Sample] = [before[-1]] if before else []
    ready_s: float | None = None
    while time.monotonic() - t0 < started + 120:
        during.append(_sample(watch, group, t0))
        body = joiner.health() or {}
        if ready_s is None and body.get("recovered") and body.get("assigned"):
            ready_s = time.monotonic() - t0 - started
        if ready_s is not None and time.monotonic() - t0 > started + ready_s + 20:
            break
        time.sleep(0.25)
    steady = list(max_commit_gaps(before).values())
    across = list(max_commit_gaps(during).values())
    return {
        "ready_s": None if ready_s is None else round(ready_s, 2),
        "steady_gap_s": round(statistics.median(steady), 2) if steady else None,
        "pause_s": round(max(across), 2) if across else None,
        "partitions": len(across),
    }


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
            joiner = fleet.add("processing")
            results.append({"rep": rep, **one_join(watch, group, joiner, before_s=15.0)})
            print(results[-1], flush=True)  # progress
            joiner.stop()
            time.sleep(max(settle_s, env.session_timeout_s + 2))
    finally:
        load.stop()
        load.join()
        fleet.stop_all()
        watch.close()
    ready = summarize([r["ready_s"] for r in results])
    steady = summarize([r["steady_gap_s"] for r in results])
    pause = summarize([r["pause_s"] for r in results])
    return {
        "preload": preload,
        "rate": rate,
        "reps": results,
        "summary": {
            "ready_s": ready.as_dict(),
            "steady_gap_s": steady.as_dict(),
            "pause_s": pause.as_dict(),
        },
        "lines": [
            f"join (2 -> 3 processing instances, standby 1, state "
            f"{preload['changelog_records']} changelog records, load {rate:.0f}/s):",
            f"  joiner ready (recovered, assigned):  {ready.text()}",
            f"  longest commit gap across the join:  {pause.text()}",
            f"  commit gap before the join (steady): {steady.text()}",
        ],
    }
