"""What every benchmark needs: the chaos stack, an app of its own, workers, load, state size.

Benchmarks run on the chaos stack (Kafka 19092, registry 18081, state ``.local/chaos``) and
take its lock, so they never run beside a chaos run or disturb the shared stack. Each app
(``bench<name><n>-…``) has its own topics, groups and data dirs; they are deleted at the end.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.chaos.config import REPO_ROOT, STATE_DIR, StackPorts
from ops.chaos.fleet import Fleet, Worker
from ops.chaos.harness import faust_env
from ops.chaos.load import LoadRunner
from ops.chaos.probe import GroupWatch
from ops.chaos.stack import ChaosStack
from streams.kafka import admin, reader
from streams.settings import Settings
from streams.topics import TABLES_BY_ROLE, changelog_topic

log = logging.getLogger(__name__)

BENCH_DIR = REPO_ROOT / ".local" / "bench"


@dataclass
class BenchEnv:
    """One benchmark session on the chaos stack."""

    name: str
    session_timeout_s: float = 10.0
    keep_stack: bool = False
    ports: StackPorts = field(default_factory=StackPorts)
    state_dir: Path = STATE_DIR
    apps: list[Settings] = field(default_factory=list)
    fleets: list[Fleet] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.stack = ChaosStack(self.ports, self.state_dir)
        self.stamp = int(time.time()) % 10**6

    def up(self) -> None:
        """Start the chaos stack (idempotent)."""
        self.stack.up()

    def app(self, tag: str, standby: int = 1, partitions: int = 12) -> Settings:
        """A bootstrapped app of its own: topics, schemas, hubs and changelog topics."""
        app_id = f"bench{self.name}{self.stamp}-{tag}"
        settings = Settings(
            broker=self.ports.broker,
            registry_url=self.ports.registry_url,
            app_id=app_id,
            topic_prefix=f"{app_id}.",
            partitions=partitions,
            data_dir=self.state_dir / "data" / app_id,
            standby_replicas=standby,
            endpoint_url=f"http://127.0.0.1:{self.ports.endpoint}",
        )
        self.stack.bootstrap(settings)
        self.apps.append(settings)
        return settings

    def fleet(self, settings: Settings) -> Fleet:
        """Workers of an app (not started); ports from the chaos range."""
        fleet = Fleet(
            settings,
            self.state_dir / "logs" / settings.app_id,
            REPO_ROOT,
            self.ports.first_worker,
            extra_env=faust_env(self.session_timeout_s),
        )
        self.fleets.append(fleet)
        return fleet

    def watch(self, settings: Settings, role: str = "processing") -> GroupWatch:
        """Lag of one role's group."""
        return GroupWatch(settings, [f"{settings.app_id}-{role}"])

    def load(self, settings: Settings, count: int, rate: float, seed: int = 7) -> LoadRunner:
        """Generated events (started): ``count`` of them at ``rate`` per second."""
        runner = LoadRunner(settings, count, rate, seed, concurrency=2000)
        runner.start()
        return runner

    def wait_drained(
        self, settings: Settings, timeout: float = 600.0, quiet_s: float = 4.0
    ) -> float:
        """Seconds until the processing group has read everything (and stays so)."""
        watch = self.watch(settings)
        start = time.monotonic()
        quiet: float | None = None
        while time.monotonic() - start < timeout:
            samples = watch.sample()
            if samples and all(s.lag == 0 for s in samples):
                quiet = quiet or time.monotonic()
                if time.monotonic() - quiet >= quiet_s:
                    return time.monotonic() - start
            else:
                quiet = None
            time.sleep(1.0)
        msg = f"{settings.app_id}: not drained within {timeout}s"
        raise TimeoutError(msg)

    def preload(self, settings: Settings, events: int, workers: int = 2) -> dict[str, Any]:
        """Give an app state: ``events`` processed by ``workers`` processing workers, stopped
        again afterwards. Returns what it took and the changelog size it left."""
        fleet = self.fleet(settings.with_(data_dir=settings.data_dir / "preload"))
        for _ in range(workers):
            fleet.add("processing").start()
        for w in fleet.workers:
            w.wait_ready()
        t = time.monotonic()
        self.load(settings, events, rate=5000.0).join()
        drained = self.wait_drained(settings)
        fleet.stop_all()
        # Static members do not leave the group on a clean stop: until their sessions expire, a
        # worker started next joins a group that still counts them, and their expiry rebalances
        # it again (a cold restore then ran twice, and its first, cut-short pass was timed).
        time.sleep(self.session_timeout_s + 2)
        return {
            "events": events,
            "seconds": round(time.monotonic() - t, 1),
            "drain_after_send_s": round(drained, 1),
            "changelog_records": changelog_records(settings),
        }

    def cleanup(self) -> None:
        """Stop workers, delete the apps' topics and data, stop the stack unless kept."""
        for fleet in self.fleets:
            fleet.stop_all()
        for settings in self.apps:
            try:
                client = admin.admin(settings)
                names = [
                    t
                    for t in client.list_topics(timeout=10).topics
                    if t.startswith(settings.app_id)
                ]
                admin.delete_topics(settings, names)
            except Exception as exc:  # the broker may be gone already
                log.warning("could not delete topics of %s: %s", settings.app_id, exc)
            shutil.rmtree(settings.data_dir, ignore_errors=True)
        if not self.keep_stack:
            self.stack.down()


def changelog_records(settings: Settings, role: str = "processing") -> int:
    """Records in the role's changelog topics now (what a cold instance restores)."""
    total = 0
    for table in TABLES_BY_ROLE[role]:
        topic = changelog_topic(settings, role, table)
        total += sum(high - low for low, high in reader.end_offsets(settings, topic).values())
    return total


def assigned_inputs(worker: Worker, topic: str) -> set[int]:
    """Partitions of ``topic`` the worker's ``/healthz`` lists as active, if it is recovered."""
    body = worker.health() or {}
    if not body.get("recovered"):
        return set()
    out = set()
    for item in body.get("assigned") or []:
        name, _, partition = str(item).rpartition(":")
        if name == topic:
            out.add(int(partition))
    return out


def write_report(name: str, body: dict[str, Any], lines: Iterable[str]) -> Path:
    """Print the figures and write ``.local/bench/<name>.json``."""
    for line in lines:
        print(line, flush=True)  # a benchmark's output is its figures
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    path = BENCH_DIR / f"{name}.json"
    path.write_text(json.dumps(body, indent=2, default=str) + "\n")
    print(f"written to {path}", flush=True)
    return path
