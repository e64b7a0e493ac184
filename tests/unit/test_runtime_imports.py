"""A worker imports the runtime only: no CLI, load generator, rehearsal or plotting module.

Each role's app is built the way ``faust -A streams.app worker`` builds it (``streams.app.app``
from the environment, ``SHIPSTREAM_ROLE`` choosing the role) in a fresh interpreter, which
then lists the modules it imported. Building the app connects to nothing.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.settings import ROLES

REPO = Path(__file__).resolve().parents[2]

BUILD_AND_LIST = """
import json, sys
import streams.app
streams.app.app  # built on first access, as faust's CLI asks for it
print(json.dumps(sorted(sys.modules)))
"""

CLI = "streams.tools.cli"
#: Module name prefixes a worker must never import.
TOOLS = ("streams.tools", "matplotlib", "tqdm", "rich", "ops")


def imported_by_worker(role: str, data_dir: Path) -> list[str]:
    env = {
        **os.environ,
        "SHIPSTREAM_ROLE": role,
        "SHIPSTREAM_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(REPO),
    }
    out = subprocess.run(
        [sys.executable, "-c", BUILD_AND_LIST],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("role", ["all", *ROLES])
def test_a_worker_imports_no_tool(role: str, tmp_path: Path) -> None:
    modules = imported_by_worker(role, tmp_path)
    assert "streams.app" in modules
    assert any(m.startswith("faust") for m in modules)
    tools = [m for m in modules if any(m == t or m.startswith(f"{t}.") for t in TOOLS)]
    assert tools == []


def test_the_cli_runs_without_the_plotting_extra() -> None:
    """The worker image has no matplotlib and runs ``shipstream bootstrap``."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, streams.tools.cli.main; print(json.dumps(sorted(sys.modules)))",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    assert "streams.tools.cli.main" in modules
    assert [m for m in modules if m.split(".")[0] == "matplotlib"] == []


def test_no_cli_module_is_another_ones_library() -> None:
    """Only ``main`` imports the sub-commands; what they share lives outside ``cli/``."""
    cli = REPO / "streams" / "tools" / "cli"
    for path in sorted(cli.glob("*.py")):
        if path.name == "main.py":
            continue
        tree = ast.parse(path.read_text())
        imported = [
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module is not None
        ]
        siblings = [m for m in imported if m == CLI or m.startswith(f"{CLI}.")]
        assert siblings == [], path.name
