"""A private Prometheus process for one test: own port, own TSDB, own config and rules.

The shared Prometheus (:9090) belongs to everyone using the stack, so a test that needs
scrapes every second, shortened rules or lifecycle reloads starts its own::

    prom = PrivatePrometheus(workdir, scrape_configs=[...], rule_files=[rules]).start()
    prom.alerts()          # GET /api/v1/alerts
    prom.stop()
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

DEFAULT_BINARY = "/usr/bin/prometheus"


class PrometheusError(RuntimeError):
    """The private Prometheus did not start or did not answer; the message has its log."""


def free_port() -> int:
    """A TCP port nobody listens on right now (on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_binary() -> str:
    """Path of the prometheus binary (PATH first, then Debian's); raises when missing."""
    found = shutil.which("prometheus") or (
        DEFAULT_BINARY if Path(DEFAULT_BINARY).exists() else None
    )
    if found is None:
        msg = "prometheus is not installed: run ops/setup.sh (make test does)"
        raise PrometheusError(msg)
    return found


def static_job(
    name: str, targets: Sequence[tuple[str, dict[str, str]]], metrics_path: str = "/metrics"
) -> dict[str, Any]:
    """A scrape job over fixed targets, each ``("host:port", labels)``."""
    return {
        "job_name": name,
        "metrics_path": metrics_path,
        "static_configs": [{"targets": [t], "labels": labels} for t, labels in targets],
    }


class PrivatePrometheus:
    """One Prometheus process under ``workdir`` (config, tsdb and log live there)."""

    def __init__(
        self,
        workdir: Path,
        scrape_configs: Sequence[dict[str, Any]],
        rule_files: Sequence[Path] = (),
        interval: str = "1s",
        binary: str | None = None,
        port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.binary = binary or find_binary()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "prometheus.yml"
        self.log_path = workdir / "prometheus.log"
        self.config = {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": list(scrape_configs),
        }
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 30.0) -> PrivatePrometheus:
        """Start and wait until ``/-/ready`` answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                msg = f"prometheus exited with {self._proc.returncode}:\n{self.tail()}"
                raise PrometheusError(msg)
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        msg = f"prometheus not ready at {self.url} within {timeout:.0f}s:\n{self.tail()}"
        raise PrometheusError(msg)

    def _get(self, path: str, **params: str) -> Any:
        r = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        r.raise_for_status()
        body = r.json()
        if body.get("status") != "success":
            msg = f"GET {path} {params}: {body}"
            raise PrometheusError(msg)
        return body["data"]

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending and firing), as ``/api/v1/alerts`` lists them."""
        return list(self._get("/api/v1/alerts")["alerts"])

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's vector result."""
        return list(self._get("/api/v1/query", query=expr)["result"])

    def targets(self) -> list[dict[str, Any]]:
        """Active scrape targets with their health."""
        return list(self._get("/api/v1/targets")["activeTargets"])

    def rule_groups(self) -> list[dict[str, Any]]:
        """Loaded rule groups (what the rules API says was loaded)."""
        return list(self._get("/api/v1/rules")["groups"])

    def tail(self, lines: int = 30) -> str:
        """The end of the process' log."""
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None
