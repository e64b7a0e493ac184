"""Offline BACKWARD-compatibility check of each schema against its last committed version.

BACKWARD means consumers using the new schema can read data written with the old one, the
registry's default rule; checking it before a commit keeps a breaking change out of main
instead of having the registry refuse it at deploy time.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType


@dataclass(frozen=True)
class CompatResult:
    """The verdict for one schema file."""

    path: Path
    compatible: bool
    against: str
    """What the schema was compared with, e.g. a commit id, or why nothing was."""
    messages: tuple[str, ...] = ()


def backward_compatible(new_text: str, old_text: str) -> tuple[bool, tuple[str, ...]]:
    """Can a reader with ``new_text`` read data written with ``old_text``?"""
    reader = avro.schema.parse(new_text)
    writer = avro.schema.parse(old_text)
    result = ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)
    ok = result.compatibility is SchemaCompatibilityType.compatible
    return ok, tuple(sorted(result.messages))


def _git(repo: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(  # noqa: S603  # fixed argv of git, no shell
            ["git", *args],  # noqa: S607  # git from PATH, as a developer runs it
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout


def previous_version(path: Path, repo: Path) -> tuple[str, str] | None:
    """The latest committed text of ``path`` that differs from the working copy."""
    rel = path.resolve().relative_to(repo.resolve()).as_posix()
    current = path.read_text()
    commits = _git(repo, "log", "--format=%H", "--", rel)
    for commit in (commits or "").split():
        text = _git(repo, "show", f"{commit}:{rel}")
        if text is not None and text != current:
            return commit[:12], text
    return None


def check_all(schema_dir: Path, repo: Path) -> list[CompatResult]:
    """Check every .avsc in ``schema_dir`` against its previous committed version."""
    results = []
    for path in sorted(schema_dir.glob("*.avsc")):
        prev = previous_version(path, repo)
        if prev is None:
            results.append(CompatResult(path, True, "no earlier committed version"))
            continue
        commit, old = prev
        ok, messages = backward_compatible(path.read_text(), old)
        results.append(CompatResult(path, ok, commit, messages))
    return results
