"""Recovery times from committed offsets, the run's options and its result line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.chaos.config import ChaosConfig, parse_args
from ops.chaos.probe import RecoveryTracker, baseline_of, offsets_of
from ops.chaos.report import Disruption, RunRecord, result_line
from streams.monitoring.lag import PartitionLag

A, B, C = ("t", 0), ("t", 1), ("t", 2)


def test_a_partition_is_served_when_its_commit_passes_the_baseline() -> None:
    tracker = RecoveryTracker({A: 10, B: 5, C: None})
    tracker.observe(1.0, {A: (10, 20), B: (5, 5), C: (None, 3)})
    assert tracker.pending == {A, C} and not tracker.done()
    tracker.observe(4.5, {A: (12, 25), B: (5, 5), C: (3, 3)})
    assert tracker.done()
    assert tracker.recovery_s == 4.5
    assert tracker.idle == {B}


def test_no_recovery_time_while_a_partition_with_work_is_pending() -> None:
    tracker = RecoveryTracker({A: 10, B: 10})
    tracker.observe(2.0, {A: (11, 12), B: (10, 30)})
    assert tracker.recovery_s is None and tracker.pending == {B}
    tracker.observe(3.0, {})  # the broker did not answer: nothing changes
    assert tracker.pending == {B}


def test_baseline_and_offsets_come_from_lag_samples() -> None:
    samples = [
        PartitionLag("g", "t", 0, 7, 0, 9),
        PartitionLag("g", "t", 1, None, 0, 4),
        PartitionLag("other", "t", 0, 1, 0, 9),
    ]
    assert baseline_of(samples, {A, B, C}, "g") == {A: 7, B: None, C: None}
    assert offsets_of(samples[:2]) == {A: (7, 9), B: (None, 4)}


def test_options_and_the_spacing_of_disruptions(tmp_path: Path) -> None:
    cfg = parse_args(
        ["--events", "3000", "--rate", "50", "--kills", "3", "--scale-changes", "1",
         "--fleet", "processing=3,decision=1,communication=1", "--result", str(tmp_path / "r")]
    )  # fmt: skip
    assert cfg.load_duration_s == 60.0
    assert cfg.actions == 5 and cfg.interval_s == 10.0
    assert cfg.fleet == (("processing", 3), ("decision", 1), ("communication", 1))
    assert ChaosConfig(kill_interval_s=7).interval_s == 7


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="guarantee"):
        ChaosConfig(guarantee="maybe_once")
    with pytest.raises(ValueError, match="at least one worker"):
        ChaosConfig(fleet=(("processing", 0),))
    with pytest.raises(SystemExit):
        parse_args(["--events", "0"])


def test_the_result_line() -> None:
    record = RunRecord(run_id="r", config={}, events_sent=3000)
    record.disruptions += [
        Disruption("kill", 1, "w1", recovery_s=4.25),
        Disruption("kill", 2, "w2", recovery_s=9.0),
        Disruption("scale_up", 3, "w3", recovery_s=30.0),
        Disruption("broker_restart", 4, "kafka", recovery_s=20.0),
    ]
    assert result_line(record, 0, 2, 1) == (
        "events=3000 kills=2 scale_changes=1 broker_restarts=1 "
        "lost=0 duplicated=2 mismatched=1 longest_recovery=9.0s"
    )
