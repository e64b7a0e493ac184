"""Worker processes of a run: ``faust -A streams.app worker``, one per instance.

Each worker has its own web port, data dir and static membership id (``ROLE-PORT``), as
``ops/workers.sh`` gives them. A restart after a kill reuses all three, as a Kubernetes
StatefulSet pod with its volume would; a scale-up gets a new port and so a new identity.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from streams.settings import Settings

log = logging.getLogger(__name__)

#: Topics a role consumes: what "its partitions are served again" is measured on.
INPUTS = {
    "processing": ("shipments.events", "shipments.hub-arrivals"),
    "decision": ("shipments.updates",),
    "communication": ("shipments.decisions",),
}


class FleetError(RuntimeError):
    """A worker did not start; the message has the end of its log."""


def port_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:port."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class Worker:
    """One worker process and its identity (role, port, instance id, data dir)."""

    settings: Settings
    log_path: Path
    root: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    #: Set when the harness ended the process on purpose (kill or stop), not a crash.
    expected_exit: bool = False
    starts: int = 0

    @property
    def role(self) -> str:
        """The worker's role."""
        return self.settings.role

    @property
    def port(self) -> int:
        """Web port (and part of the identity)."""
        return self.settings.web_port

    @property
    def name(self) -> str:
        """``worker-ROLE-PORT``, as ``ops/workers.sh`` names them."""
        return f"worker-{self.role}-{self.port}"

    @property
    def url(self) -> str:
        """Base URL of the worker's web server."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id while it runs."""
        return None if self.proc is None else self.proc.pid

    @property
    def data_path(self) -> Path:
        """The worker's RocksDB dir (``streams.app`` names it ``<group>-<port>``)."""
        return self.settings.data_dir / f"{self.settings.group_id}-{self.port}"

    def alive(self) -> bool:
        """The process runs."""
        return self.proc is not None and self.proc.poll() is None

    def env(self) -> dict[str, str]:
        """The worker's environment: our settings, faust's timing, the code under test."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPSTREAM_")}
        env.update(self.settings.to_env())
        env["PYTHONPATH"] = str(self.root)
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        """Start the process (does not wait for it to be ready: see ``wait_ready``)."""
        if self.alive():
            msg = f"{self.name} is already running (pid {self.pid})"
            raise FleetError(msg)
        if not port_free(self.port):
            msg = f"{self.name}: port {self.port} is in use; stop what holds it"
            raise FleetError(msg)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            out.write(f"\n===== {time.strftime('%H:%M:%S')} starting {self.name} =====\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "faust", "-A", "streams.app", "worker"]
                + ["--web-port", str(self.port), "--loglevel", "info"],
                cwd=self.root,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.expected_exit = False
        self.starts += 1
        log.info("%s: started (pid %s)", self.name, self.pid)

    def health(self, timeout: float = 2.0) -> dict[str, Any] | None:
        """``GET /healthz`` (200 or 503) as JSON; None when the worker does not answer."""
        try:
            response = httpx.get(self.url + "/healthz", timeout=timeout)
            body: dict[str, Any] = response.json()
            return body
        except (httpx.HTTPError, ValueError):
            return None

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Seconds until ``/healthz`` says recovered; raises if the process dies or times out."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if not self.alive():
                code = self.proc and self.proc.returncode
                msg = f"{self.name} exited with {code}:\n{self.tail()}"
                raise FleetError(msg)
            body = self.health()
            if body is not None and body.get("recovered"):
                return time.monotonic() - start
            time.sleep(0.25)
        msg = f"{self.name} not ready within {timeout}s:\n{self.tail()}"
        raise FleetError(msg)

    def kill(self) -> None:
        """SIGKILL: what a crash looks like (no commit, no changelog flush, no leave-group)."""
        if self.proc is not None and self.alive():
            self.expected_exit = True
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            log.info("%s: SIGKILLed", self.name)

    def stop(self, timeout: float = 45.0) -> None:
        """SIGTERM (a graceful scale-down), SIGKILL after ``timeout``."""
        if self.proc is None or not self.alive():
            return
        self.expected_exit = True
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %ss of SIGTERM: SIGKILL", self.name, timeout)
            self.proc.kill()
            self.proc.wait()

    def tail(self, lines: int = 40) -> str:
        """The end of the worker's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Fleet:
    """All workers of a run; ports are handed out from ``first_port`` upwards."""

    base: Settings
    log_dir: Path
    root: Path
    first_port: int
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)

    def _next_port(self) -> int:
        used = {w.port for w in self.workers}
        port = self.first_port
        while port in used or not port_free(port):
            port += 1
        return port

    def add(self, role: str) -> Worker:
        """A new instance of ``role`` (not started)."""
        port = self._next_port()
        settings = self.base.with_(
            role=role,
            web_port=port,
            instance_id=f"{role}-{port}",
        )
        worker = Worker(settings, self.log_dir / f"worker-{role}-{port}.log", self.root)
        worker.extra_env = dict(self.extra_env)
        self.workers.append(worker)
        return worker

    def running(self, role: str | None = None) -> list[Worker]:
        """Workers that run (and were not stopped on purpose), of one role or all."""
        return [w for w in self.workers if w.alive() and (role is None or w.role == role)]

    def crashed(self) -> list[Worker]:
        """Workers whose process ended without the harness asking."""
        return [
            w for w in self.workers if w.proc is not None and not w.alive() and not w.expected_exit
        ]

    def stop_all(self, timeout: float = 30.0) -> None:
        """Stop every worker: SIGTERM to all at once, SIGKILL to those still there later."""
        live = [w for w in self.workers if w.alive()]
        for w in live:
            w.expected_exit = True
            if w.proc is not None:
                w.proc.terminate()
        deadline = time.monotonic() + timeout
        for w in live:
            if w.proc is None:
                continue
            try:
                w.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
