"""The ledger's invariant check is computed from the records, not assumed."""

from __future__ import annotations

import sys
from pathlib import Path

# See test_endpoint_server.py: `ops` is importable only with the repo root on sys.path.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from ops.endpoint.ledger import Ledger, Outcome  # noqa: E402


def test_a_double_application_would_be_reported():
    ledger = Ledger()
    ledger.record("k", "/carrier", 200, Outcome.APPLIED, {})
    ledger.record("k", "/carrier", 200, Outcome.APPLIED, {})
    assert ledger.summary()["keys_applied_twice"] == ["k"]


def test_counts_by_outcome_and_path():
    ledger = Ledger()
    ledger.record("a", "/carrier", 503, Outcome.TRANSIENT_FAILURE, {})
    ledger.record("a", "/carrier", 200, Outcome.APPLIED, {})
    ledger.record("a", "/carrier", 409, Outcome.DUPLICATE, {})
    ledger.record("b", "/dispatch", 422, Outcome.PERMANENT_FAILURE, {})
    ledger.record(None, "/notify", 400, Outcome.BAD_REQUEST, "x")
    summary = ledger.summary()
    assert summary["requests"] == 5
    assert (summary["applied"], summary["duplicates"], summary["failures"]) == (1, 1, 3)
    assert summary["failures_by_status"] == {"503": 1, "422": 1, "400": 1}
    assert summary["by_path"]["/carrier"]["transient_failure"] == 1
    assert summary["max_posts_per_key"] == 3
    assert ledger.is_applied("a") and not ledger.is_applied("b")


def test_jsonl_mirror_appends_across_restarts(tmp_path):
    path = tmp_path / "deep" / "received.jsonl"
    for _ in range(2):
        ledger = Ledger(path)
        ledger.open()
        ledger.record("k", "/carrier", 200, Outcome.APPLIED, {"n": 1})
        ledger.close()
    assert len(path.read_text().splitlines()) == 2
