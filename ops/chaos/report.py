"""The run's record: what was done when, how long things took, and the one-line verdict."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from streams.patches.continuity import READ_AGAIN_MARK
from streams.patches.offset_guard import SKIPPED_MARK

#: What the workers log when they repair their own delivery: counted per run. A read again
#: keeps the partition's order; a redelivery from the commit comes after later records.
LOG_SIGNALS = {"reads_again": READ_AGAIN_MARK, "commit_redeliveries": SKIPPED_MARK}


@dataclass
class Disruption:
    """One kill, scale change or broker restart, with how long the pipeline took to recover.

    ``recovery_s`` is when the affected partitions were committed again (see ``probe``);
    when none of them got new records in the window it falls back to ``ready_s``, the time
    until the restarted worker's ``/healthz`` said recovered, and ``basis`` says which.
    """

    kind: str
    at_s: float
    target: str
    role: str = ""
    partitions: int = 0
    idle_partitions: int = 0
    down_s: float | None = None
    ready_s: float | None = None
    served_s: float | None = None
    recovery_s: float | None = None
    basis: str = ""
    timed_out: bool = False
    during_load: bool = True
    note: str = ""


@dataclass
class RunRecord:
    """Everything the JSON result holds besides the verdict."""

    run_id: str
    config: dict[str, Any]
    disruptions: list[Disruption] = field(default_factory=list)
    unexpected_exits: list[str] = field(default_factory=list)
    events_sent: int = 0
    load_rate: float = 0.0
    load_seconds: float = 0.0
    drained: bool = False
    drain_s: float | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: the harness' own lag sampler: failed samples and sampling processes that died
    sampler: dict[str, int] = field(default_factory=dict)
    #: warnings of the workers' self-repair, counted in their logs (``log_signals``)
    log_signals: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> int:
        """Disruptions of one kind."""
        return sum(1 for d in self.disruptions if d.kind == kind)

    def longest_recovery(self, kind: str = "kill") -> float:
        """The slowest recovery among disruptions of ``kind`` (0 when there were none)."""
        times = [d.recovery_s for d in self.disruptions if d.kind == kind and d.recovery_s]
        return max(times, default=0.0)


def result_line(record: RunRecord, lost: int, duplicated: int, mismatched: int) -> str:
    """The one line a run ends with (what CI logs and the README quote)."""
    return (
        f"events={record.events_sent} kills={record.count('kill')} "
        f"scale_changes={record.count('scale_up') + record.count('scale_down')} "
        f"broker_restarts={record.count('broker_restart')} "
        f"lost={lost} duplicated={duplicated} mismatched={mismatched} "
        f"longest_recovery={record.longest_recovery():.1f}s"
    )


def write_result(path: Path, record: RunRecord, verdict: dict[str, Any], line: str) -> None:
    """The JSON result: the line, the config, every disruption and the verdict's details."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"line": line, **asdict(record), "verdict": verdict}
    path.write_text(json.dumps(body, indent=2, default=str) + "\n")


def log_signals(log_dir: Path) -> dict[str, int]:
    """How often each of ``LOG_SIGNALS`` appears in the worker logs of one run."""
    counts = dict.fromkeys(LOG_SIGNALS, 0)
    for path in sorted(log_dir.glob("*.log")):
        with path.open(errors="replace") as lines:
            for line in lines:
                for name, mark in LOG_SIGNALS.items():
                    if mark in line:
                        counts[name] += 1
    return counts
