"""Fixtures on the real stack: `make test` starts Kafka, the registry and Prometheus first.

A test that finds a service down fails with the command to run; it never skips, so CI cannot
pass without having run it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streams.codecs import registry
from streams.kafka import admin
from streams.settings import Settings, from_env

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    settings = from_env({k: v for k, v in os.environ.items() if k.startswith("SHIPSTREAM_")})
    try:
        admin.check_broker(settings, timeout=5)
        httpx.get(
            settings.registry_url + "/subjects", timeout=5, **registry.httpx_options(settings)
        ).raise_for_status()
    except Exception as exc:
        pytest.fail(f"the stack is not up ({exc}); run `make up` (make test does it)")
    return settings


@pytest.fixture
def settings(base_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings with topics, groups and data dirs of this test only."""
    tag = uuid.uuid4().hex[:8]
    s = base_settings.with_(
        topic_prefix=f"t{tag}.",
        app_id=f"t{tag}",
        partitions=4,
        data_dir=tmp_path / "data",
        web_port=_free_port(),
    )
    yield s
    names = [t for t in admin.admin(s).list_topics(timeout=10).topics if t.startswith(f"t{tag}")]
    admin.delete_topics(s, names)


def provision(settings: Settings) -> None:
    """Topics of ``settings`` created and every schema registered (BACKWARD), as bootstrap does."""
    admin.ensure_topics(settings)
    for subject in registry.register_all(settings):
        registry.set_compatibility(settings, subject, "BACKWARD")


def env_of(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes a worker process use these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPSTREAM_")}
    env.update(settings.to_env())
    env.update(extra)
    return env


class Worker:
    """A real `faust -A streams.app worker` process."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{settings.web_port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> Worker:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "faust",
                "-A",
                "streams.app",
                "worker",
                "-l",
                "info",
                "--web-port",
                str(self.settings.web_port),
            ],
            cwd=ROOT,
            env=env_of(self.settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                r = httpx.get(self.url + "/healthz", timeout=2)
                if r.status_code == 200 and r.json()["assigned"]:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        pytest.fail(f"worker not ready in {timeout}s:\n{self.tail()}")

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[object]:
    started: list[Worker] = []

    def start(settings: Settings) -> Worker:
        w = Worker(settings, tmp_path / f"worker-{len(started)}.log")
        started.append(w)
        return w.start()

    yield start
    for w in started:
        w.stop()
