"""How the harness adds its findings up, and the topics it creates up front (no broker)."""

from __future__ import annotations

from pathlib import Path

from ops.chaos import report
from ops.chaos.expect import DecisionDiff, StateDiff
from ops.chaos.stack import changelog_specs
from ops.chaos.verify import EXAMPLES, Verdict
from streams.settings import Settings


def verdict(**kw: object) -> Verdict:
    args: dict[str, object] = {
        "inputs": {},
        "state": StateDiff(),
        "decisions": DecisionDiff(),
        "updates_missing": [],
        "updates_repeated": 0,
        "dlq_missing": [],
        "dlq": {},
        "undelivered": [],
        "phantom_actions": [],
        "actions_by_status": {},
        "endpoint": {"keys_applied_twice": []},
    }
    args.update(kw)
    return Verdict(**args)  # type: ignore[arg-type]


def test_a_clean_run_counts_nothing() -> None:
    v = verdict(dlq={"processing/not_avro": 3}, updates_repeated=12)
    assert (v.lost, v.duplicated, v.mismatched) == (0, 0, 0)


def test_every_finding_lands_in_one_of_the_three_counts() -> None:
    v = verdict(
        state=StateDiff(lost=["s/1"], extra=["s/9"], mismatched=["t: eta"]),
        decisions=DecisionDiff(
            duplicated={"d1": 3}, missing=["d2 R6 s"], unexpected=["d3 R2 s"], violations=["x"]
        ),
        updates_missing=["s/2"],
        dlq_missing=["0@7"],
        dlq={"decision/internal_error": 2, "processing/not_avro": 1},
        undelivered=["d4"],
        phantom_actions=["d5"],
        endpoint={"keys_applied_twice": ["d1"]},
    )
    assert v.lost == 1 + 1 + 1 + 1 + 1
    assert v.duplicated == 1 + 2 + 1
    assert v.internal_errors == 2
    assert v.mismatched == 1 + 1 + 1 + 1 + 2


def test_long_lists_are_cut_in_the_json() -> None:
    v = verdict(updates_missing=[f"s/{i}" for i in range(EXAMPLES + 5)])
    body = v.as_dict()
    assert body["counts"]["lost"] == EXAMPLES + 5
    assert body["updates_missing"][-1] == "... 5 more"


def test_changelog_topics_of_every_table() -> None:
    specs = changelog_specs(Settings(app_id="run1", topic_prefix="run1."))
    assert sorted(s.name for s in specs) == [
        "run1-decision-decision_memory-changelog",
        "run1-decision-stream_time-changelog",
        "run1-processing-hub_windows-changelog",
        "run1-processing-shipments-changelog",
    ]
    assert {s.cleanup_policy for s in specs} == {"compact"}


def test_the_json_has_the_size_of_every_list() -> None:
    v = verdict(updates_missing=["a", "b"], state=StateDiff(lost=["x"]))
    sizes = v.as_dict()["sizes"]
    assert sizes["updates_missing"] == 2 and sizes["state.lost"] == 1
    assert sizes["decisions.missing"] == 0


def test_the_workers_self_repairs_are_counted_in_their_logs(tmp_path: Path) -> None:
    (tmp_path / "worker-processing-1.log").write_text(
        "[x] t.events[5]: a fetch starts at offset 621, the next record to deliver is 503; "
        "offsets 503..620 were fetched and not delivered: reading them again first\n"
        "[x] hub BOS1 added\n"
    )
    (tmp_path / "worker-decision-2.log").write_text(
        "[x] t.updates[1]: offsets 3..9 were skipped by the consumer (later ones are acked); "
        "delivering the partition again from the committed offset 3\n" * 2
    )
    (tmp_path / "notes.txt").write_text("were skipped by the consumer\n")
    assert report.log_signals(tmp_path) == {"reads_again": 1, "commit_redeliveries": 2}
