"""Running one system on the input and measuring it: a peer process, or shipstream workers.

Peers time themselves (first record consumed, last output acknowledged: they know when they
have read everything) and exit. shipstream workers keep running, so they are watched from
outside: done when the processing group has committed every input record and the decision
group every update (lag 0 on their inputs, twice in a row, with the decision stage's
``shipstream_events_total`` unchanged in between). The window starts at the timestamp of the
first record in the updates topic (processing's first output) and ends when the decision
stage's counter of evaluated updates first reached its final value (sampled every 0.5 s).

CPU over the window is read from the sampler's timeline of each system's process trees.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka.admin import NewTopic
from prometheus_client.parser import text_string_to_metric_families

from ops.bench.throughput.data import copy_topic, first_timestamp
from ops.bench.throughput.peer import PeerConfig
from ops.bench.throughput.procstat import TreeSampler, wait_unreaped
from ops.bench.throughput.results import Measurement
from ops.chaos.config import REPO_ROOT, StackPorts
from ops.chaos.fleet import Fleet, Worker
from ops.chaos.harness import faust_env
from ops.chaos.probe import GroupWatch
from ops.chaos.stack import ChaosStack, Endpoint
from streams.kafka import admin
from streams.settings import Settings
from streams.topics import EVENTS, HUB_ARRIVALS, UPDATES

log = logging.getLogger(__name__)

#: A shipstream run that handles no record for this long while lag remains has failed.
STALL_S = 120.0


def events_total(metrics_text: str) -> dict[str, float]:
    """``shipstream_events_total`` of a worker's ``/metrics`` text as ``{"stage/outcome": n}``."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name != "shipstream_events_total":
                continue
            key = f"{sample.labels.get('stage', '?')}/{sample.labels.get('outcome', '?')}"
            out[key] = out.get(key, 0.0) + sample.value
    return out


class SystemError_(RuntimeError):  # SystemError is a builtin
    """A system did not finish; the message says where to look."""


@dataclass
class Bench:
    """What every run shares: the stack, the input, the peers' codec inputs, where to write."""

    stack: ChaosStack
    ports: StackPorts
    base: Settings
    input_topic: str
    expected: int
    event_schema: dict[str, Any]
    event_schema_id: int
    decision_schema: dict[str, Any]
    decision_schema_id: int
    transit: dict[str, dict[str, int]]
    work_dir: Path
    timeout_s: float
    standby: int = 1
    session_timeout_s: float = 10.0
    apps: list[Settings] = field(default_factory=list)

    @property
    def app_id(self) -> str:
        """Prefix of every topic, group and data dir of this benchmark."""
        return self.base.app_id

    def broker_pid(self) -> int | None:
        """Kafka's pid, from ``ops/stack.sh``'s pid file (its CPU is reported apart)."""
        try:
            return int((self.stack.state_dir / "run" / "kafka.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def external_sampler(self) -> TreeSampler:
        """A sampler of the broker (started)."""
        sampler = TreeSampler(interval_s=0.5)
        pid = self.broker_pid()
        if pid is not None:
            sampler.add(pid, "kafka")
        sampler.start()
        return sampler


def window_cpu(sampler: TreeSampler, t0: float, t1: float) -> float | None:
    """CPU seconds the sampler's trees used between wall times ``t0`` and ``t1``."""
    a, b = sampler.cpu_at(t0), sampler.cpu_at(t1)
    return None if a is None or b is None else max(0.0, b - a)


def run_peer(
    bench: Bench,
    system: str,
    label: str,
    python: str,
    module: str,
    guarantee: str,
    run: str | None = None,
) -> Measurement:
    """Run one peer process on the input and measure it.

    ``run`` names this run's group, output topic and directory (default: ``system``), so
    that a repeat starts from the beginning of the input again.
    """
    run = run or system
    run_dir = bench.work_dir / run
    run_dir.mkdir(parents=True, exist_ok=True)
    output = f"{bench.app_id}-{run}.decisions"
    _create_topic(bench.base, output)
    cfg = PeerConfig(
        broker=bench.base.broker,
        input_topic=bench.input_topic,
        output_topic=output,
        group=f"{bench.app_id}-{run}",
        expected=bench.expected,
        event_schema=bench.event_schema,
        event_schema_id=bench.event_schema_id,
        decision_schema=bench.decision_schema,
        decision_schema_id=bench.decision_schema_id,
        transit=bench.transit,
        stats_path=str(run_dir / "stats.json"),
        guarantee=guarantee,
        state_dir=str(run_dir / "state"),
    )
    cfg_path = run_dir / "config.json"
    cfg.dump(cfg_path)
    log_path = run_dir / "peer.log"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    sampler, external = TreeSampler(), bench.external_sampler()
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [python, "-m", module, str(cfg_path)],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    sampler.add(proc.pid, system)
    sampler.start()
    try:
        finished = wait_unreaped(proc.pid, bench.timeout_s)
        if not finished:
            proc.kill()
        sampler.final(proc.pid)
    finally:
        sampler.stop()
        external.stop()
        proc.wait()
    if not finished or proc.returncode != 0:
        why = "timed out" if not finished else f"exited with {proc.returncode}"
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        log.error("%s %s; see %s:\n%s", system, why, log_path, tail)
        return Measurement(system, label, bench.expected, None, None, error=f"{why} ({log_path})")
    stats = json.loads(Path(cfg.stats_path).read_text())
    t0, t1 = stats["first_consumed"], stats["last_output"]
    return Measurement(
        system=system,
        label=label,
        events=bench.expected,
        wall_s=t1 - t0,
        cpu_s=window_cpu(sampler, t0, t1),
        cpu_total_s=sampler.finals.get(proc.pid),
        peak_rss_kb=sampler.peak_rss_kb(),
        broker_cpu_s=window_cpu(external, t0, t1),
        processes=len(sampler.hwm_kb),
        guarantee=guarantee,
        detail={"stats": stats, "processes": sampler.per_process(), "log": str(log_path)},
    )


def run_shipstream(
    bench: Bench,
    system: str,
    label: str,
    fleet_spec: Sequence[tuple[str, int]],
    with_endpoint: bool = False,
    run: str | None = None,
) -> Measurement:
    """Start shipstream workers on a copy of the input, wait until the decision stage has
    consumed everything, measure, stop them. ``run``: as for :func:`run_peer`."""
    run = run or system
    app_id = f"{bench.app_id}-{run}"
    settings = bench.base.with_(
        app_id=app_id,
        topic_prefix=f"{app_id}.",
        data_dir=bench.work_dir / run / "data",
        standby_replicas=bench.standby,
        endpoint_url=f"http://127.0.0.1:{bench.ports.endpoint}",
    )
    bench.apps.append(settings)
    bench.stack.bootstrap(settings)
    endpoint = None
    if with_endpoint:
        endpoint = Endpoint(bench.ports.endpoint, 0.0, 1, bench.work_dir / run / "endpoint.log")
        endpoint.start()
    fleet = Fleet(
        settings,
        bench.work_dir / run / "logs",
        REPO_ROOT,
        bench.ports.first_worker,
        extra_env=faust_env(bench.session_timeout_s),
    )
    for role, count in fleet_spec:
        for _ in range(count):
            fleet.add(role)
    sampler, external = TreeSampler(), bench.external_sampler()
    if endpoint is not None and endpoint.proc is not None:
        external.add(endpoint.proc.pid, "endpoint")
    started = time.time()
    try:
        for worker in fleet.workers:
            worker.start()
            assert worker.pid is not None  # noqa: S101  # just started
            sampler.add(worker.pid, worker.name)
        sampler.start()
        for worker in fleet.workers:
            worker.wait_ready(timeout=300)
        # The input arrives once the group is settled: a rebalance while the first workers
        # already consume is start-up, not throughput (and, with 2 processing workers started
        # at once, left one of them never fetching its partitions: see the README).
        _wait_assigned(fleet, settings)
        copied = copy_topic(bench.base, bench.input_topic, settings.topic(EVENTS.name))
        if copied != bench.expected:
            msg = f"{run}: copied {copied} input records, expected {bench.expected}"
            raise SystemError_(msg)
        t_end, counted = _wait_done(bench, settings, fleet, fleet_spec)
        t0 = first_timestamp(settings, settings.topic(UPDATES.name))
        if t0 is None:
            msg = f"{run}: nothing in the updates topic"
            raise SystemError_(msg)
        cpu = window_cpu(sampler, t0, t_end)
        cpu_total = window_cpu(sampler, started - 1, t_end)
        outcomes = fleet_events(fleet)
    except (SystemError_, TimeoutError, RuntimeError) as exc:
        log.error("%s failed: %s", system, exc)
        return Measurement(system, label, bench.expected, None, None, error=str(exc)[:300])
    finally:
        fleet.stop_all()
        sampler.stop()
        external.stop()
        if endpoint is not None:
            endpoint.stop()
    processing = sum(n for role, n in fleet_spec if role in ("processing", "all"))
    return Measurement(
        system=system,
        label=label,
        events=bench.expected,
        wall_s=t_end - t0,
        cpu_s=cpu,
        cpu_total_s=cpu_total,
        peak_rss_kb=sampler.peak_rss_kb(),
        broker_cpu_s=window_cpu(external, t0, t_end),
        processes=len(sampler.hwm_kb),
        guarantee=settings.processing_guarantee,
        detail={
            "fleet": dict(fleet_spec),
            "processing_workers": processing,
            "standby_replicas": settings.standby_replicas,
            "updates_evaluated": counted,
            "events_total": outcomes,
            "processes": sampler.per_process(),
            "logs": str(bench.work_dir / run / "logs"),
        },
    )


def _wait_assigned(fleet: Fleet, settings: Settings, timeout: float = 120.0) -> None:
    """Wait until every input partition is assigned to a recovered worker and stays so (5 s)."""
    topic = settings.topic(EVENTS.name)
    consumers = [w for w in fleet.workers if w.role in ("processing", "all")]
    deadline = time.monotonic() + timeout
    stable_since: float | None = None
    while time.monotonic() < deadline:
        owned: list[int] = []
        for worker in consumers:
            body = worker.health() or {}
            if body.get("recovered"):
                owned += [
                    int(item.rpartition(":")[2])
                    for item in body.get("assigned") or []
                    if str(item).rpartition(":")[0] == topic
                ]
        if sorted(owned) == list(range(settings.partitions)):
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= 5.0:
                return
        else:
            stable_since = None
        time.sleep(0.5)
    msg = f"{settings.app_id}: the input partitions were not all assigned within {timeout}s"
    raise SystemError_(msg)


def _create_topic(settings: Settings, name: str) -> None:
    client = admin.admin(settings)
    topic = NewTopic(name, num_partitions=settings.partitions, replication_factor=1)
    for fut in client.create_topics([topic], operation_timeout=30).values():
        fut.result()


def worker_events(worker: Worker) -> dict[str, float] | None:
    """The worker's ``shipstream_events_total`` by stage/outcome (None: no answer)."""
    try:
        return events_total(httpx.get(worker.url + "/metrics", timeout=2.0).text)
    except httpx.HTTPError:
        return None


def fleet_events(fleet: Fleet) -> dict[str, float]:
    """``shipstream_events_total`` summed over the running workers."""
    out: dict[str, float] = {}
    for worker in fleet.running():
        for key, value in (worker_events(worker) or {}).items():
            out[key] = out.get(key, 0.0) + value
    return out


def decision_counter(worker: Worker) -> float | None:
    """Updates the worker's decision stage evaluated so far (None: no answer)."""
    counts = worker_events(worker)
    return None if counts is None else counts.get("decision/evaluated", 0.0)


def _wait_done(
    bench: Bench, settings: Settings, fleet: Fleet, fleet_spec: Sequence[tuple[str, int]]
) -> tuple[float, int]:
    """Wall time at which the decision stage evaluated its last update, and how many."""
    roles = [role for role, _ in fleet_spec]
    groups = [f"{settings.app_id}-{role}" for role in roles]
    inputs = {settings.topic(t.name) for t in (EVENTS, HUB_ARRIVALS, UPDATES)}
    needed = {settings.topic(EVENTS.name), settings.topic(UPDATES.name)}
    deciders = [w for w in fleet.workers if w.role in ("decision", "all")]
    watch = GroupWatch(settings, groups)
    counts: list[tuple[float, float]] = []
    done_since: tuple[float, float] | None = None
    deadline = time.monotonic() + bench.timeout_s
    next_lag = 0.0
    progress, moved = -1.0, time.monotonic()
    while time.monotonic() < deadline:
        crashed = fleet.crashed()
        if crashed:
            msg = f"{crashed[0].name} exited:\n{crashed[0].tail(15)}"
            raise SystemError_(msg)
        values = [decision_counter(w) for w in deciders]
        if all(v is not None for v in values):
            counts.append((time.time(), sum(v for v in values if v is not None)))
        if time.monotonic() >= next_lag and counts:
            next_lag = time.monotonic() + 2.0
            samples = [s for s in watch.sample() if s.topic in inputs]
            handled = sum(fleet_events(fleet).values())
            if handled != progress:
                progress, moved = handled, time.monotonic()
            elif time.monotonic() - moved > STALL_S:
                lag = sum(s.lag for s in samples)
                msg = f"no record handled for {STALL_S:.0f}s with {lag} records of lag (stuck)"
                raise SystemError_(msg)
            drained = (
                bool(samples)
                and needed <= {s.topic for s in samples}
                and all(s.lag == 0 for s in samples)
            )
            if not drained:
                done_since = None
            elif done_since is None or done_since[1] != counts[-1][1]:
                done_since = (time.monotonic(), counts[-1][1])
            elif time.monotonic() - done_since[0] >= 3.0:
                final = counts[-1][1]
                t_end = next(t for t, v in counts if v >= final)
                return t_end, int(final)
        time.sleep(0.5)
    msg = f"{settings.app_id}: not drained within {bench.timeout_s:.0f}s"
    raise TimeoutError(msg)
