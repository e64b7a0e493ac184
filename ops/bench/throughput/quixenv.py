"""The Quix Streams peer's own virtualenv, made by the benchmark (never a project dependency).

``.local/bench/quix-venv`` gets ``quixstreams==<version>`` and the fastavro version of the
project's environment, so both peers decode with the same library. When the pinned version
cannot be installed, the newest that installs is taken and the result says which.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from importlib.metadata import version as installed_version
from pathlib import Path

from ops.chaos.config import REPO_ROOT

log = logging.getLogger(__name__)

VENV = REPO_ROOT / ".local" / "bench" / "quix-venv"
DEFAULT_VERSION = "3.28.1"


class QuixEnvError(RuntimeError):
    """Quix Streams could not be installed; the message has pip's output."""


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _quix_version(venv: Path) -> str | None:
    python = _python(venv)
    if not python.exists():
        return None
    proc = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('quixstreams'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def _pip(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_python(venv)), "-m", "pip", "install", "-q", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def ensure(version: str = DEFAULT_VERSION, venv: Path = VENV) -> tuple[str, str]:
    """The venv's python and the Quix Streams version installed in it (made if needed)."""
    have = _quix_version(venv)
    if have == version:
        return str(_python(venv)), have
    if not _python(venv).exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    fastavro = f"fastavro=={installed_version('fastavro')}"
    proc = _pip(venv, f"quixstreams=={version}", fastavro)
    if proc.returncode != 0:
        log.warning("quixstreams==%s did not install (%s); trying the newest that does",
                    version, proc.stderr.strip().splitlines()[-1:])  # fmt: skip
        proc = _pip(venv, "--upgrade", "quixstreams", fastavro)
        if proc.returncode != 0:
            msg = f"cannot install Quix Streams into {venv}:\n{proc.stderr[-2000:]}"
            raise QuixEnvError(msg)
    have = _quix_version(venv)
    if have is None:
        msg = f"Quix Streams is not importable in {venv} after installing it"
        raise QuixEnvError(msg)
    return str(_python(venv)), have
