"""A short chaos run: kills, a scale change and a broker restart under load, then the invariants.

The harness starts its own Kafka and registry on the chaos ports (19092/18081, state under
``.local/chaos``), so the shared stack other tests use is never touched, and stops them after.
It waits for another chaos run holding its lock rather than fight over the ports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT

pytestmark = pytest.mark.integration

ARGS = [
    "--events", "3000", "--rate", "40", "--kills", "3", "--scale-changes", "1",
    "--recovery-timeout", "90", "--drain-timeout", "180", "--settle", "12",
]  # fmt: skip


@pytest.mark.timeout(900)
def test_nothing_lost_duplicated_or_changed_under_chaos(tmp_path: Path) -> None:
    result = tmp_path / "chaos.json"
    proc = subprocess.run(
        [sys.executable, "-m", "ops.chaos.harness", *ARGS, "--result", str(result)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    tail = proc.stderr[-4000:]
    assert result.exists(), f"no result (exit {proc.returncode}):\n{tail}"
    body = json.loads(result.read_text())
    counts = body["verdict"]["counts"]
    line = proc.stdout.strip().splitlines()[-1]
    assert line == body["line"] and line.startswith("events=")
    kinds = [d["kind"] for d in body["disruptions"]]
    assert kinds.count("kill") == 3 and kinds.count("broker_restart") == 1
    assert kinds.count("scale_up") + kinds.count("scale_down") == 1
    assert body["drained"], f"the groups did not drain: {line}"
    assert counts["lost"] == 0, json.dumps(body["verdict"], indent=1)[:4000]
    assert counts["duplicated"] == 0, json.dumps(body["verdict"], indent=1)[:4000]
    assert counts["mismatched"] == 0, json.dumps(body["verdict"], indent=1)[:4000]
    assert counts["keys_applied_twice"] == counts["decision_ids_committed_twice"] == 0
    assert body["verdict"]["dlq_missing"] == []
    assert proc.returncode == 0, f"{line}\n{tail}"
