"""The chaos stack: a second Kafka + registry on their own ports, and the reference endpoint.

Everything goes through ``ops/stack.sh`` with ``SHIPSTREAM_STATE_DIR`` and the chaos ports, so
``down`` and the broker restart touch this stack only, never the shared one on 9092/8081.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

from ops.chaos.config import REPO_ROOT, StackPorts, hub_network
from streams.codecs import registry
from streams.kafka import admin
from streams.kafka.reference import publish_hubs
from streams.settings import Settings
from streams.topics import TopicSpec, changelog_names

log = logging.getLogger(__name__)

STACK_SH = REPO_ROOT / "ops" / "stack.sh"


class StackError(RuntimeError):
    """A service of the chaos stack did not start or stop; the message has its log's end."""


class ChaosStack:
    """Start, stop and restart the services of one state dir."""

    def __init__(self, ports: StackPorts, state_dir: Path) -> None:
        self.ports = ports
        self.state_dir = state_dir
        self.env = {**os.environ, **ports.stack_env(state_dir)}

    def _sh(self, *args: str, timeout: float = 240.0) -> float:
        start = time.monotonic()
        proc = subprocess.run(
            ["bash", str(STACK_SH), *args],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            what = " ".join(args)
            msg = f"ops/stack.sh {what} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
            raise StackError(msg)
        log.info("stack.sh %s: %s", " ".join(args), proc.stdout.strip().splitlines()[-1:])
        return time.monotonic() - start

    def up(self) -> float:
        """Kafka and the registry (idempotent); seconds it took."""
        return self._sh("up", "kafka", "registry")

    def down(self) -> float:
        """Stop this stack's registry and Kafka."""
        return self._sh("down", "registry", "kafka")

    def stop_broker(self) -> float:
        """Stop Kafka only (SIGTERM: a controlled shutdown, as a rolling restart does)."""
        return self._sh("down", "kafka")

    def start_broker(self) -> float:
        """Start Kafka again on the same data."""
        return self._sh("up", "kafka")

    def bootstrap(self, settings: Settings) -> None:
        """Topics, schemas (BACKWARD) and the chaos hub network (``config.hub_network``),
        plus the tables' changelog topics (see ``changelog_specs``)."""
        admin.ensure_topics(settings)
        admin.ensure_topics(settings.with_(topic_prefix=""), changelog_specs(settings))
        for subject in registry.register_all(settings):
            registry.set_compatibility(settings, subject, "BACKWARD")
        publish_hubs(settings, hubs=hub_network())


def changelog_specs(settings: Settings) -> tuple[TopicSpec, ...]:
    """The changelog topics faust would create on a per-role worker's first start.

    Created up front because faust's own creation races with its consumer: a worker that
    subscribes while the topic it just created has no partitions in the metadata yet caches
    "0 partitions" and then fails every write to that table with PartitionsMismatch (seen on
    ``stream_time``; every update is then dead-lettered as internal_error). The names are
    complete: create them with settings whose ``topic_prefix`` is empty.
    """
    return tuple(
        TopicSpec(
            name=name,
            key="table key",
            value="json",
            cleanup_policy="compact",
            internal=True,
        )
        for name in changelog_names(settings, with_all=False)
    )


class Endpoint:
    """The reference endpoint (``ops.endpoint.server``) as a child process."""

    def __init__(
        self,
        port: int,
        failure_rate: float,
        seed: int,
        log_path: Path,
        latency_ms: float = 5.0,
        jitter_ms: float = 5.0,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.args = ["--port", str(port), "--failure-rate", str(failure_rate)]
        self.args += ["--seed", str(seed), "--latency-ms", f"{latency_ms:g}"]
        self.args += ["--jitter-ms", f"{jitter_ms:g}"]
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait for ``/healthz``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ops.endpoint.server", *self.args],
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                msg = f"the endpoint exited with {self.proc.returncode}; see {self.log_path}"
                raise StackError(msg)
            try:
                httpx.get(self.url + "/healthz", timeout=2).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.3)
        msg = f"the endpoint did not answer on {self.url} within {timeout}s; see {self.log_path}"
        raise StackError(msg)

    def received(self) -> dict[str, object]:
        """``GET /received``: what was applied, and which keys were applied twice."""
        response = httpx.get(self.url + "/received", timeout=30)
        response.raise_for_status()
        result: dict[str, object] = response.json()
        return result

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def exclusive(state_dir: Path, wait_s: float = 1800.0) -> Iterator[None]:
    """One chaos run (or benchmark) at a time per state dir: they share ports and the broker.

    Waits up to ``wait_s`` for a run in progress to finish, then gives up with a message.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "harness.lock"
    handle: IO[str] = path.open("a+")
    deadline = time.monotonic() + wait_s
    announced = False
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    msg = f"another chaos run holds {path} for more than {wait_s:.0f}s"
                    raise StackError(msg) from None
                if not announced:
                    log.warning("another chaos run holds %s; waiting", path)
                    announced = True
                time.sleep(2)
        yield
    finally:
        handle.close()
