"""``python -m ops.chaos.harness``: break the pipeline under load, then check nothing was lost.

On its own stack (Kafka + registry on the chaos ports, state under ``.local/chaos``) it
bootstraps a run's topics, starts the reference endpoint with a small failure rate and a fleet
of workers (static membership, standby replicas), drives the generator at a fixed rate and,
meanwhile, SIGKILLs random workers and restarts them, adds and removes instances and restarts
the broker once, timing each recovery. Then it waits for every group to drain and verifies from
the topics (``verify``). It prints one line and writes a JSON result; exit 0 only when
lost = duplicated = mismatched = 0.
"""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

from ops.chaos import verify
from ops.chaos.config import ChaosConfig, parse_args
from ops.chaos.fleet import INPUTS, Fleet, Worker
from ops.chaos.load import LoadRunner
from ops.chaos.probe import (
    TP,
    GroupWatch,
    RecoveryTracker,
    baseline_of,
    offsets_of,
    visible_records,
)
from ops.chaos.report import Disruption, RunRecord, log_signals, result_line, write_result
from ops.chaos.stack import ChaosStack, Endpoint, exclusive
from streams.kafka import admin
from streams.settings import Settings

log = logging.getLogger("ops.chaos")

SCALABLE = ("processing", "decision")
T = TypeVar("T")


def run_settings(cfg: ChaosConfig, run_id: str) -> Settings:
    """Settings of this run: its own topics, groups and data dir on the chaos stack."""
    return Settings(
        broker=cfg.ports.broker,
        registry_url=cfg.ports.registry_url,
        app_id=run_id,
        topic_prefix=f"{run_id}.",
        partitions=cfg.partitions,
        data_dir=cfg.state_dir / "data" / run_id,
        standby_replicas=cfg.standby_replicas,
        processing_guarantee=cfg.guarantee,
        endpoint_url=f"http://127.0.0.1:{cfg.ports.endpoint}",
    )


def faust_env(session_timeout_s: float) -> dict[str, str]:
    """faust reads these from the environment; a shorter session lets the group notice a dead
    member sooner (faust's default is 60 s)."""
    return {
        "BROKER_SESSION_TIMEOUT": str(session_timeout_s),
        "BROKER_HEARTBEAT_INTERVAL": str(min(3.0, session_timeout_s / 4)),
        # a worker that aborts in C code (librdkafka, RocksDB) leaves a Python stack in its log
        "PYTHONFAULTHANDLER": "1",
    }


def input_tps(worker: Worker, settings: Settings) -> set[TP]:
    """The input partitions a worker serves now, from its ``/healthz``."""
    body = worker.health() or {}
    names = {settings.topic(t) for t in INPUTS[worker.role]}
    out = set()
    for item in body.get("assigned") or []:
        topic, _, partition = str(item).rpartition(":")
        if topic in names:
            out.add((topic, int(partition)))
    return out


class Run:
    """One chaos run; ``main`` drives it."""

    def __init__(self, cfg: ChaosConfig) -> None:
        self.cfg = cfg
        self.run_id = f"chaos{int(time.time())}"
        self.settings = run_settings(cfg, self.run_id)
        self.stack = ChaosStack(cfg.ports, cfg.state_dir)
        self.endpoint = Endpoint(
            cfg.ports.endpoint,
            cfg.endpoint_failure_rate,
            cfg.seed,
            cfg.state_dir / "logs" / f"{self.run_id}-endpoint.log",
        )
        self.fleet = Fleet(
            self.settings,
            cfg.state_dir / "logs" / self.run_id,
            cfg.worker_root,
            cfg.ports.first_worker,
            extra_env=faust_env(cfg.session_timeout_s),
        )
        self.groups = [f"{self.run_id}-{role}" for role, _ in cfg.fleet]
        self.watch: GroupWatch | None = None
        self.rng = random.Random(cfg.seed)  # reproducible chaos, not security
        config = {k: str(v) for k, v in asdict(cfg).items()}
        self.record = RunRecord(run_id=self.run_id, config=config)
        self.load: LoadRunner | None = None
        self.started = time.monotonic()
        self.added: list[Worker] = []

    # --- helpers ------------------------------------------------------------------------------

    def now(self) -> float:
        """Seconds since the run started."""
        return round(time.monotonic() - self.started, 2)

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking call in a thread."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def during_load(self) -> bool:
        """The generator is still sending."""
        return self.load is not None and not self.load.done()

    async def supervise(self) -> None:
        """Restart workers that died on their own; each is recorded (a crash loop shows)."""
        while True:
            await asyncio.sleep(1.0)
            for w in self.fleet.crashed():
                code = w.proc.returncode if w.proc else None
                log.warning("%s exited by itself (code %s); restarting it", w.name, code)
                self.record.unexpected_exits.append(f"{self.now()}s {w.name} exit={code}")
                w.start()

    # --- disruptions ----------------------------------------------------------------------------

    async def kill(self, outage: bool = False) -> Disruption:
        """SIGKILL a random worker, restart it after the delay, time until served again.

        With ``outage`` Kafka is stopped first, the worker dies ``outage_s`` later with what it
        processed meanwhile unsent, and Kafka starts again before the worker does.
        """
        assert self.watch is not None  # noqa: S101  # set before the chaos loop starts
        roles = self.cfg.kill_roles
        victim = self.rng.choice([w for w in self.fleet.running() if not roles or w.role in roles])
        tps = await self.blocking(input_tps, victim, self.settings)
        group = victim.settings.group_id
        baseline = baseline_of(await self.watch.sample_async(), tps, group)
        d = Disruption("kill", self.now(), victim.name, victim.role, len(tps))
        d.during_load = self.during_load()
        if outage:
            t_down = time.monotonic()
            await self.blocking(self.stack.stop_broker)
            await asyncio.sleep(self.cfg.outage_s)
            victim.kill()
            await self.blocking(self.stack.start_broker)
            self.watch.reset()
            d.down_s = round(time.monotonic() - t_down, 2)
            d.note = f"killed {self.cfg.outage_s}s into a broker outage"
        else:
            victim.kill()
        t0 = time.monotonic()
        tracking = asyncio.create_task(
            self.watch.track(baseline, {group}, self.cfg.recovery_timeout_s, t0=t0)
        )
        await asyncio.sleep(self.cfg.restart_delay_s)
        if not victim.alive():  # the supervisor may have restarted a worker that crashed first
            victim.start()
        try:
            await self.blocking(victim.wait_ready, self.cfg.recovery_timeout_s)
            d.ready_s = round(time.monotonic() - t0, 2)
        except Exception as exc:  # recorded; the supervisor restarts it
            d.note = f"not ready: {str(exc).splitlines()[0]}"
        tracker = await tracking
        self._settle(d, tracker)
        return d

    def _settle(self, d: Disruption, tracker: RecoveryTracker) -> None:
        d.idle_partitions = len(tracker.idle)
        served = tracker.recovery_s
        d.served_s = None if served is None else round(served, 2)
        if served is not None:
            d.recovery_s, d.basis = d.served_s, "committed offsets moved"
        elif tracker.pending:
            d.timed_out = True
            d.recovery_s = self.cfg.recovery_timeout_s
            d.basis = f"timeout: {len(tracker.pending)} partitions not served"
        else:
            d.recovery_s, d.basis = d.ready_s, "healthz (no new records on its partitions)"
        log.info("%s", d)

    async def scale(self, step: int) -> Disruption:
        """Even steps add an instance of processing or decision; odd steps remove one."""
        assert self.watch is not None  # noqa: S101
        if step % 2 == 0 or not self.added:
            role = self.rng.choice(SCALABLE)
            worker = self.fleet.add(role)
            group = worker.settings.group_id
            samples = await self.watch.sample_async()
            tps = {(s.topic, s.partition) for s in samples if s.group == group}
            baseline = baseline_of(samples, tps, group)
            d = Disruption("scale_up", self.now(), worker.name, role, len(tps))
            d.during_load = self.during_load()
            t0 = time.monotonic()
            worker.start()
            self.added.append(worker)
            tracking = asyncio.create_task(
                self.watch.track(baseline, {group}, self.cfg.recovery_timeout_s, t0=t0)
            )
            try:
                await self.blocking(worker.wait_ready, self.cfg.recovery_timeout_s)
                d.ready_s = round(time.monotonic() - t0, 2)
            except Exception as exc:
                d.note = f"not ready: {str(exc).splitlines()[0]}"
            self._settle(d, await tracking)
            return d
        worker = self.added.pop()
        tps = await self.blocking(input_tps, worker, self.settings)
        group = worker.settings.group_id
        d = Disruption("scale_down", self.now(), worker.name, worker.role, len(tps))
        d.during_load = self.during_load()
        t0 = time.monotonic()
        await self.blocking(worker.stop)
        d.down_s = round(time.monotonic() - t0, 2)
        # the baseline after the stop: a leaving worker commits what it processed on its way
        # out, which is not its partitions being served by their new owners
        baseline = baseline_of(await self.watch.sample_async(), tps, group)
        tracker = await self.watch.track(baseline, {group}, self.cfg.recovery_timeout_s, t0=t0)
        self._settle(d, tracker)
        return d

    async def restart_broker(self) -> Disruption:
        """Stop Kafka (controlled shutdown) and start it again; time until every group moves."""
        assert self.watch is not None  # noqa: S101
        samples = await self.watch.sample_async()
        tps = {(s.topic, s.partition) for s in samples}
        baseline = {(s.topic, s.partition): s.committed for s in samples}
        d = Disruption("broker_restart", self.now(), "kafka", "", len(tps))
        d.during_load = self.during_load()
        t0 = time.monotonic()
        await self.blocking(self.stack.stop_broker)
        await self.blocking(self.stack.start_broker)
        self.watch.reset()
        d.down_s = round(time.monotonic() - t0, 2)
        d.ready_s = d.down_s
        tracker = await self.watch.track(baseline, None, self.cfg.recovery_timeout_s * 2, t0=t0)
        self._settle(d, tracker)
        return d

    def plan(self) -> list[str]:
        """The disruptions in order: kills and scale changes shuffled, the broker mid-run."""
        steps = ["kill"] * self.cfg.kills + ["scale"] * self.cfg.scale_changes
        steps += ["outage"] * self.cfg.outage_kills
        self.rng.shuffle(steps)
        if self.cfg.broker_restart:
            steps.insert(len(steps) // 2, "broker")
        return steps

    async def chaos(self) -> None:
        """Run the plan at the configured spacing (never two disruptions at once)."""
        start = time.monotonic()
        scale_step = 0
        for i, step in enumerate(self.plan()):
            due = start + (i + 1) * self.cfg.interval_s
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if step in ("kill", "outage"):
                d = await self.kill(outage=step == "outage")
            elif step == "scale":
                d = await self.scale(scale_step)
                scale_step += 1
            else:
                d = await self.restart_broker()
            self.record.disruptions.append(d)

    # --- drain ---------------------------------------------------------------------------------

    async def drain(self) -> bool:
        """Wait until no group has anything left to read, for ``settle`` seconds in a row."""
        assert self.watch is not None  # noqa: S101
        start = time.monotonic()
        quiet_since: float | None = None
        last: dict[TP, tuple[int | None, int]] = {}
        while time.monotonic() - start < self.cfg.drain_timeout_s:
            samples = await self.watch.sample_async()
            current = offsets_of(samples)
            behind = {(s.topic, s.partition): s.committed or 0 for s in samples if s.lag > 0}
            if behind and self.cfg.guarantee == "exactly_once":
                # transaction markers count as lag; only records a reader sees are backlog
                visible = await self.blocking(visible_records, self.settings, behind)
                behind = behind if visible else {}
            groups_seen = {s.group for s in samples}
            idle = samples and not behind and current == last and set(self.groups) <= groups_seen
            if idle:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= self.cfg.settle_s:
                    self.record.drain_s = round(time.monotonic() - start, 1)
                    return True
            else:
                quiet_since = None
            last = current
            await asyncio.sleep(1.0)
        self.record.drain_s = round(time.monotonic() - start, 1)
        return False

    # --- the run -------------------------------------------------------------------------------

    async def execute(self) -> int:
        """Set up, disrupt under load, drain, verify; returns the exit code."""
        cfg = self.cfg
        t = time.monotonic()
        await self.blocking(self.stack.up)
        self.record.timings["stack_up_s"] = round(time.monotonic() - t, 1)
        await self.blocking(self.stack.bootstrap, self.settings)
        await self.blocking(self.endpoint.start)
        t = time.monotonic()
        for role, n in cfg.fleet:
            for _ in range(n):
                self.fleet.add(role).start()
        for w in list(self.fleet.workers):
            await self.blocking(w.wait_ready)
        self.record.timings["fleet_ready_s"] = round(time.monotonic() - t, 1)
        self.watch = GroupWatch(self.settings, self.groups)
        supervisor = asyncio.create_task(self.supervise())
        self.load = LoadRunner(self.settings, cfg.events, cfg.rate, cfg.seed, cfg.concurrency)
        self.load.start()
        log.info("run %s: %d events at %.0f/s, %d disruptions every %.1fs", self.run_id,
                 cfg.events, cfg.rate, cfg.actions, cfg.interval_s)  # fmt: skip
        await self.chaos()
        while not self.load.done():
            await asyncio.sleep(1.0)
        self.load.join()
        if self.load.result is not None:
            self.record.events_sent = self.load.result.sent
            self.record.load_rate = round(self.load.result.average_rate, 1)
            self.record.load_seconds = round(self.load.result.elapsed_s, 1)
        self.record.drained = await self.drain()
        supervisor.cancel()
        self.record.sampler = {
            "failed_samples": self.watch.failures,
            "sampler_process_deaths": self.watch.child_deaths,
        }
        self.record.log_signals = log_signals(cfg.state_dir / "logs" / self.run_id)
        received = await self.blocking(self.endpoint.received)
        verdict = await self.blocking(verify.verify, self.settings, received)
        self.record.timings["total_s"] = self.now()
        line = result_line(self.record, verdict.lost, verdict.duplicated, verdict.mismatched)
        if not self.record.drained:
            line += " drained=false"
        if self.record.unexpected_exits:
            line += f" crashes={len(self.record.unexpected_exits)}"
        paths = [cfg.state_dir / "results" / f"{self.run_id}.json"]
        paths += [cfg.result_path] if cfg.result_path else []
        for path in paths:
            write_result(path, self.record, verdict.as_dict(), line)
        log.info("result written to %s", " and ".join(map(str, paths)))
        print(line, flush=True)  # the one line the run ends with
        ok = self.record.drained and verdict.lost == verdict.duplicated == verdict.mismatched == 0
        return 0 if ok else 1

    def cleanup(self, failed: bool) -> None:
        """Stop what the run started; delete its topics and data, unless asked to keep them or
        the run failed (they are the evidence then; the JSON result names the run id)."""
        self.fleet.stop_all()
        self.endpoint.stop()
        if self.watch is not None:
            self.watch.close()
        if failed or self.cfg.keep_topics:
            log.info("kept topics %s* and data %s", self.run_id, self.settings.data_dir)
        else:
            try:
                client = admin.admin(self.settings)
                topics = client.list_topics(timeout=10).topics
                names = [t for t in topics if t.startswith(self.run_id)]
                admin.delete_topics(self.settings, names)
            except Exception as exc:  # the broker may be gone; data is kept then
                log.warning("could not delete the run's topics: %s", exc)
            shutil.rmtree(self.settings.data_dir, ignore_errors=True)
        if not self.cfg.keep_stack:
            self.stack.down()


def _terminate(signum: int, _frame: object) -> None:
    msg = f"signal {signum}"
    raise KeyboardInterrupt(msg)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; exit 0 only when nothing was lost, duplicated or mismatched."""
    cfg = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # SIGTERM (a CI timeout, `kill`) ends the run like Ctrl-C: workers and stack are stopped.
    signal.signal(signal.SIGTERM, _terminate)
    with exclusive(cfg.state_dir):
        run = Run(cfg)
        code = 2
        try:
            code = asyncio.run(run.execute())
        except Exception:
            log.exception("the chaos run failed before it could verify")
        finally:
            run.cleanup(failed=code != 0)
        return code


if __name__ == "__main__":
    sys.exit(main())
