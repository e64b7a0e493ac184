"""(c) Changelog restore rate of a cold instance.

One processing instance with an empty data dir and standby 0 starts against an app whose
changelogs hold a known number of records, and again against an app with none; both are timed
from process start to /healthz recovered. The restore itself is read from the worker's log
(faust's "Restoring state from changelog topics" to "Restore complete!"), which leaves out
process start-up and the group join; records / restore is the rate. Repetitions alternate
between the two apps, each from a fresh data dir.
"""

from __future__ import annotations

import time
from typing import Any

from ops.bench.env import BenchEnv, changelog_records
from ops.bench.stats import rate, restore_seconds, summarize


def cold_start(env: BenchEnv, settings: Any, rep: int) -> tuple[float, float | None]:
    """Seconds from start to recovered of one worker with an empty data dir, and the restore
    alone as faust logs it ("Restoring state ..." to "Restore complete!")."""
    fleet = env.fleet(settings.with_(data_dir=settings.data_dir / f"cold{rep}"))
    worker = fleet.add("processing")
    t0 = time.monotonic()
    worker.start()
    try:
        worker.wait_ready(timeout=600)
        ready = time.monotonic() - t0
    finally:
        fleet.stop_all()
    # the log is appended to by every start of this worker name: read this start's part
    text = worker.log_path.read_text(errors="replace").rsplit("===== ", 1)[-1]
    # static members do not leave the group on a clean stop: let the session expire, so the
    # next start is not a replacement in a group that still counts the old member
    time.sleep(env.session_timeout_s + 2)
    return ready, restore_seconds(text.splitlines())


def run(env: BenchEnv, reps: int, events: int) -> dict[str, Any]:
    """Cold starts with and without state; returns the JSON body."""
    full = env.app("full", standby=0)
    empty = env.app("empty", standby=0)
    preload = env.preload(full, events)
    records = changelog_records(full)
    results: list[dict[str, Any]] = []
    for rep in range(reps):
        with_state, logged = cold_start(env, full, rep)
        without, _ = cold_start(env, empty, rep)
        results.append(
            {
                "rep": rep,
                "with_state_s": round(with_state, 2),
                "empty_s": round(without, 2),
                "restore_s": logged,
                "records_per_s": rate(records, logged),
            }
        )
        print(results[-1], flush=True)  # progress
    full_s = summarize([r["with_state_s"] for r in results])
    empty_s = summarize([r["empty_s"] for r in results])
    restore = summarize([r["restore_s"] for r in results])
    per_s = summarize([r["records_per_s"] for r in results])
    return {
        "preload": preload,
        "changelog_records": records,
        "reps": results,
        "summary": {
            "with_state_s": full_s.as_dict(),
            "empty_s": empty_s.as_dict(),
            "restore_s": restore.as_dict(),
            "records_per_s": per_s.as_dict(),
        },
        "lines": [
            f"cold restore ({records} changelog records of shipments + hub_windows, 1 instance, "
            f"12 partitions):",
            f"  start -> recovered with state: {full_s.text()}; empty app: {empty_s.text()}",
            f"  restore (faust log) {restore.text()} -> {per_s.text(' records/s')}",
        ],
    }
