"""``python -m ops.bench.throughput``: shipstream side by side with a raw loop and Quix Streams.

One invocation, one broker, one input: N events of the load generator's mix are preloaded
once into a 12-partition topic, then each system consumes all of it from the beginning with
its own group and output topics, one after the other:

- ``raw``, ``raw-tx``: a confluent-kafka loop, consume -> decode -> rules -> produce, state in
  a dict (``raw_loop``); ``raw-tx`` commits a transaction every 100 ms;
- ``quix-alo``, ``quix-eos``: the same rules as a Quix Streams app (``quix_app``), RocksDB state
  with changelog, at-least-once and exactly-once, in a virtualenv the benchmark makes;
- ``shipstream``: one processing and one decision worker (``faust -A streams.app worker``);
- ``shipstream-all``: one worker with ``SHIPSTREAM_ROLE=all`` (with the reference endpoint,
  since it runs the communication role too);
- with ``--scale``: 2 and 4 processing workers (+1 decision); 1 is ``shipstream``.

Each system runs ``--repeat`` times (default 3), the rounds interleaved (every system once,
then again), each on its own copy of the input; the table shows each system's median run by
events per CPU-second and lists every repeat below it. One run of a 2-core machine moves by
10-20% from run to run (a timer, the broker's background work); the median of three, side by
side, moves much less.

Prints a table; writes ``.local/bench/throughput.json`` and ``.local/bench/throughput.png``.
By default on the chaos stack's ports and state dir (and its lock); ``--kafka-port`` etc. (or
``BENCH_KAFKA_PORT`` ...) run it on a stack of its own.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ops.bench.throughput import data, quixenv
from ops.bench.throughput.results import (
    Measurement,
    chart,
    median_runs,
    scale_lines,
    spread_lines,
    summarize,
    table,
)
from ops.bench.throughput.systems import Bench, run_peer, run_shipstream
from ops.chaos.config import REPO_ROOT, STATE_DIR, StackPorts
from ops.chaos.stack import ChaosStack, exclusive
from streams.codecs import registry
from streams.codecs.avro import AvroSerde
from streams.kafka import admin
from streams.reference.hubs import load_hubs
from streams.settings import Settings
from streams.topics import DECISIONS, EVENTS

log = logging.getLogger("ops.bench.throughput")

SYSTEMS = ("raw", "raw-tx", "quix-alo", "quix-eos", "shipstream", "shipstream-all")
SCALE = (2, 4)
BENCH_DIR = REPO_ROOT / ".local" / "bench"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    d = StackPorts()
    p = argparse.ArgumentParser(prog="python -m ops.bench.throughput", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--events", type=int, default=200_000, help="items the generator preloads")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--concurrency", type=int, default=2000, help="shipments in flight")
    p.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help=f"comma-separated subset of {','.join(SYSTEMS)}",
    )
    p.add_argument("--scale", action="store_true", help="also 2 and 4 processing workers")
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each system, interleaved; the table shows each one's median",
    )
    p.add_argument("--quix-version", default=quixenv.DEFAULT_VERSION)
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per system")
    p.add_argument("--standby", type=int, default=1, help="shipstream standby replicas")
    p.add_argument("--kafka-port", type=int, default=_env_int("BENCH_KAFKA_PORT", d.kafka))
    p.add_argument(
        "--controller-port", type=int, default=_env_int("BENCH_CONTROLLER_PORT", d.controller)
    )
    p.add_argument("--registry-port", type=int, default=_env_int("BENCH_REGISTRY_PORT", d.registry))
    p.add_argument(
        "--registry-management-port",
        type=int,
        default=_env_int("BENCH_REGISTRY_MANAGEMENT_PORT", d.registry_management),
    )
    p.add_argument("--endpoint-port", type=int, default=_env_int("BENCH_ENDPOINT_PORT", d.endpoint))
    p.add_argument(
        "--first-worker-port", type=int, default=_env_int("BENCH_WORKER_PORT", d.first_worker)
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("BENCH_STATE_DIR", STATE_DIR)),
        help="the stack's data, logs and lock (default: the chaos stack's)",
    )
    p.add_argument("--keep-stack", action="store_true", help="leave Kafka and the registry up")
    p.add_argument("--keep-topics", action="store_true", help="keep the run's topics")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "throughput.json")
    p.add_argument("--png", type=Path, default=BENCH_DIR / "throughput.png")
    a = p.parse_args(argv)
    a.systems = [s.strip() for s in a.systems.split(",") if s.strip()]
    unknown = sorted(set(a.systems) - set(SYSTEMS))
    if unknown:
        p.error(f"unknown systems {unknown}; choose from {SYSTEMS}")
    if a.events < 1:
        p.error("--events must be at least 1")
    if a.repeat < 1:
        p.error("--repeat must be at least 1")
    a.state_dir = a.state_dir.resolve()
    return a


def labels(quix_version: str) -> dict[str, str]:
    """What the table calls each system."""
    return {
        "raw": "raw confluent-kafka loop, state in a dict",
        "raw-tx": "raw loop + transaction every 100 ms",
        "quix-alo": f"Quix Streams {quix_version}, at-least-once",
        "quix-eos": f"Quix Streams {quix_version}, exactly-once",
        "shipstream": "shipstream processing + decision",
        "shipstream-all": "shipstream one `all` worker",
        **{f"shipstream-p{n}": f"shipstream {n} processing + 1 decision" for n in SCALE},
    }


def peer_consistency(measurements: Sequence[Measurement]) -> dict[str, Any]:
    """The peers applied the same rules to the same data: their counts must agree."""
    keys = ("consumed", "applied", "duplicates", "bad", "decisions", "by_rule")
    seen = {
        m.system: {k: m.detail["stats"].get(k) for k in keys}
        for m in measurements
        if m.error is None and "stats" in m.detail
    }
    distinct = {json.dumps(v, sort_keys=True) for v in seen.values()}
    return {"agree": len(distinct) <= 1, "counts": seen}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit 1 if a system failed."""
    a = parse_args(argv)
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so workers and the stack are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    for noisy in ("httpx", "httpx2", "ops.chaos", "streams"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ports = StackPorts(
        kafka=a.kafka_port,
        controller=a.controller_port,
        registry=a.registry_port,
        registry_management=a.registry_management_port,
        endpoint=a.endpoint_port,
        first_worker=a.first_worker_port,
    )
    quix_python, quix_version = "", a.quix_version
    if any(s.startswith("quix") for s in a.systems):
        log.info("Quix Streams %s in %s", a.quix_version, quixenv.VENV)
        quix_python, quix_version = quixenv.ensure(a.quix_version)
        log.info("Quix Streams %s ready", quix_version)
    names = labels(quix_version)
    stamp = int(time.time()) % 10**6
    app_id = f"benchtp{stamp}"
    base = Settings(
        broker=ports.broker,
        registry_url=ports.registry_url,
        app_id=app_id,
        topic_prefix=f"{app_id}.",
        partitions=12,
    )
    stack = ChaosStack(ports, a.state_dir)
    work_dir = BENCH_DIR / "throughput-runs" / app_id
    measurements: list[Measurement] = []
    preload: dict[str, Any] = {}
    load_before = os.getloadavg()
    with exclusive(a.state_dir):
        bench: Bench | None = None
        try:
            log.info("stack on %s / %s (state %s)", ports.broker, ports.registry_url, a.state_dir)
            stack.up()
            stack.bootstrap(base)
            log.info("preloading %d items into %s", a.events, base.topic(EVENTS.name))
            preload = data.preload(base, a.events, a.seed, a.concurrency)
            expected = data.topic_records(base, base.topic(EVENTS.name))
            log.info("input: %d records (%s)", expected, preload["generator"])
            bench = Bench(
                stack=stack,
                ports=ports,
                base=base,
                input_topic=base.topic(EVENTS.name),
                expected=expected,
                event_schema=json.loads(registry.load_schema(_schema(EVENTS))),
                event_schema_id=AvroSerde(base, EVENTS).writer_id(),
                decision_schema=json.loads(registry.load_schema(_schema(DECISIONS))),
                decision_schema_id=AvroSerde(base, DECISIONS).writer_id(),
                transit={h["code"]: dict(h["transit_hours"]) for h in load_hubs()},
                work_dir=work_dir,
                timeout_s=a.timeout,
                standby=a.standby,
            )
            systems = list(a.systems) + ([f"shipstream-p{n}" for n in SCALE] if a.scale else [])
            runs = [(s, r) for r in range(1, a.repeat + 1) for s in systems]
            for system, round_ in runs:
                run = system if round_ == 1 else f"{system}-r{round_}"
                log.info("running %s (round %d of %d)", system, round_, a.repeat)
                m = _run(bench, system, names[system], quix_python, run)
                measurements.append(m)
                log.info(
                    "%s: %s events/s, %s events/CPU-s%s",
                    system,
                    _n(m.events_per_s),
                    _n(m.events_per_cpu_s),
                    f" FAILED {m.error}" if m.error else "",
                )
        finally:
            _cleanup(bench, base, a.keep_topics)
            if not a.keep_stack:
                stack.down()
    rows = summarize(median_runs(measurements))
    main_rows = [r for r in rows if not r["system"].startswith("shipstream-p")]
    scale_rows = [r for r in rows if r["system"] in ("shipstream",) or
                  r["system"].startswith("shipstream-p")]  # fmt: skip
    consistency = peer_consistency(measurements)
    body = {
        "command": " ".join(["python -m ops.bench.throughput", *(argv or sys.argv[1:])]),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
            "python": platform.python_version(),
        },
        "quix_version": quix_version,
        "input": {"topic_records": bench.expected if bench else None, "preload": preload},
        "ports": {"kafka": ports.kafka, "registry": ports.registry},
        "peers_agree": consistency,
        "results": rows,
    }
    lines = [
        f"{body['input']['topic_records']} input records, {os.cpu_count()} CPUs, load average "
        f"{load_before[0]:.2f} before, {body['machine']['loadavg_after'][0]:.2f} after",
        *table(main_rows),
    ]
    if a.scale:
        lines += ["", *scale_lines(scale_rows)]
    if a.repeat > 1:
        lines += ["", *spread_lines(rows)]
    if not consistency["agree"]:
        lines.append(f"WARNING: the peers' counts differ: {consistency['counts']}")
    for line in lines:
        print(line, flush=True)  # a benchmark's output is its figures
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(body, indent=2, default=str) + "\n")
    title = (
        f"{bench.expected if bench else '?'} events, 12 partitions, one broker, "
        f"{os.cpu_count()} CPUs ({time.strftime('%Y-%m-%d')})"
    )
    chart(rows, a.png, title)
    print(f"written {a.out} and {a.png}", flush=True)
    return 1 if any(m.error for m in measurements) else 0


def _run(bench: Bench, system: str, label: str, quix_python: str, run: str) -> Measurement:
    if system == "raw":
        return run_peer(bench, system, label, sys.executable, _module("raw_loop"), "none", run)
    if system == "raw-tx":
        python = sys.executable
        return run_peer(bench, system, label, python, _module("raw_loop"), "transactions", run)
    if system in ("quix-alo", "quix-eos"):
        guarantee = "at_least_once" if system == "quix-alo" else "exactly_once"
        return run_peer(bench, system, label, quix_python, _module("quix_app"), guarantee, run)
    if system == "shipstream":
        fleet = [("processing", 1), ("decision", 1)]
        return run_shipstream(bench, system, label, fleet, run=run)
    if system == "shipstream-all":
        return run_shipstream(bench, system, label, [("all", 1)], with_endpoint=True, run=run)
    n = int(system.removeprefix("shipstream-p"))
    return run_shipstream(bench, system, label, [("processing", n), ("decision", 1)], run=run)


def _module(name: str) -> str:
    return f"ops.bench.throughput.{name}"


def _schema(spec: Any) -> Path:
    path: Path = spec.schema_file
    return path


def _n(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def _cleanup(bench: Bench | None, base: Settings, keep_topics: bool) -> None:
    """Delete the run's topics (every name starting with the app id) and RocksDB dirs."""
    if not keep_topics:
        try:
            client = admin.admin(base)
            names = [t for t in client.list_topics(timeout=10).topics if base.app_id in t]
            admin.delete_topics(base, names)
        except Exception as exc:  # the broker may be gone already
            log.warning("could not delete the topics of %s: %s", base.app_id, exc)
    if bench is not None:
        for path in bench.work_dir.glob("*/data"):
            shutil.rmtree(path, ignore_errors=True)
        for path in bench.work_dir.glob("*/state"):
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
