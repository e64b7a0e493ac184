from __future__ import annotations

import json
import subprocess
from pathlib import Path

from streams.codecs.compat import backward_compatible, check_all

BASE = {
    "type": "record",
    "name": "R",
    "namespace": "t",
    "fields": [{"name": "a", "type": "string"}],
}


def schema(*extra: dict[str, object]) -> str:
    return json.dumps(dict(BASE, fields=[*BASE["fields"], *extra]))  # type: ignore[list-item]


def test_a_new_field_needs_a_default() -> None:
    assert backward_compatible(schema({"name": "b", "type": "int", "default": 0}), schema())[0]
    ok, messages = backward_compatible(schema({"name": "b", "type": "int"}), schema())
    assert not ok and messages


def test_checks_against_the_previous_committed_version(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    avsc = tmp_path / "r.avsc"
    avsc.write_text(schema())
    git("add", ".")
    git("commit", "-qm", "v1")
    assert check_all(tmp_path, tmp_path)[0].compatible  # unchanged: nothing to compare
    avsc.write_text(schema({"name": "b", "type": "int"}))
    result = check_all(tmp_path, tmp_path)[0]
    assert not result.compatible and result.against != "no earlier committed version"
