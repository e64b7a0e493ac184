"""``shipstream rehearse`` end to end: a short load against one real ``all`` worker.

Checks the command's contract, not the machine's speed: the report directory is complete, the
plots are real PNG images, the verdict line is there and agrees with the exit code.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from streams.kafka.reference import publish_hubs
from streams.settings import Settings
from streams.tools.cli import main as cli
from streams.tools.rehearsal.report import PLOTS
from tests.integration.conftest import ROOT, Worker, provision

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_rehearsal_writes_a_report_with_plots_and_a_verdict(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ep_port = _free_port()
    s = settings.with_(standby_replicas=0, endpoint_url=f"http://127.0.0.1:{ep_port}")
    provision(s)
    publish_hubs(s)
    # the communication agent delivers to it; without it retries would hold the lag up
    endpoint = subprocess.Popen(
        [sys.executable, "-m", "ops.endpoint.server", "--port", str(ep_port)],
        cwd=ROOT,
        stdout=(tmp_path / "endpoint.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    worker = Worker(s, tmp_path / "worker.log")
    try:
        worker.start()
        for key, value in s.to_env().items():
            monkeypatch.setenv(key, value)
        out = tmp_path / "report"
        rc = cli.main(
            [
                "rehearse",
                "--rate=60",
                "--duration=30",
                "--concurrency=100",  # few shipments, so lifecycles end and decisions are made
                "--interval=3",
                f"--metrics={worker.url}/metrics",
                f"--out={out}",
                "--drain-timeout=90",
            ]
        )
    finally:
        worker.stop()
        endpoint.terminate()
        endpoint.wait(10)

    text = (out / "report.md").read_text()
    verdict = re.search(r"^\*\*Verdict: (PASS|FAIL)\*\*", text, re.MULTILINE)
    assert verdict, text
    assert rc == (0 if verdict[1] == "PASS" else 1), text
    assert "constant 60/s" in text
    assert "decisions observed: 0" not in text, text
    assert "| processed | n/a" not in text, "the worker's counters were not read:\n" + text
    for name in PLOTS:
        with Image.open(out / name) as img:
            img.verify()
            assert img.format == "PNG" and img.size[0] >= 800, name
    rows = (out / "samples.csv").read_text().splitlines()
    assert len(rows) >= 1 + 30 // 3 - 1, rows
