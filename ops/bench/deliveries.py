"""(d) The communication role's cost per decision delivered.

N decisions (the action mix of a bench run: mostly CLOSE) are preloaded into an app's
``shipments.decisions``; one ``communication`` worker then delivers them to the reference
endpoint (no added latency, no failures) and writes their ``shipments.actions``. The window
runs from the first delivery the worker's ``/metrics`` counts to the last; the worker's CPU
(its process tree, from /proc) over that window divided by the decisions delivered in it is
the figure. The endpoint's CPU is reported apart. Repetitions each use an app of their own.
"""

from __future__ import annotations

import random
import time
from typing import Any

import httpx
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from ops.bench.env import BenchEnv
from ops.bench.stats import rate, summarize
from ops.bench.throughput.procstat import TreeSampler
from ops.bench.throughput.systems import window_cpu
from ops.chaos.fleet import Worker
from ops.chaos.stack import Endpoint
from streams import topics as cat
from streams.codecs.avro import AvroSerde
from streams.kafka.partitioner import partition_for
from streams.kafka.producer import producer_config
from streams.model import Action, Decision
from streams.settings import Settings

#: Roughly the actions of a throughput run's decisions (R6 CLOSE dominates).
ACTION_MIX = (Action.CLOSE,) * 8 + (
    Action.NOTIFY_CUSTOMER,
    Action.ESCALATE,
    Action.REROUTE,
    Action.EXPEDITE,
    Action.HOLD,
)


def preload(settings: Settings, count: int, seed: int) -> None:
    """``count`` decisions of random shipments in the app's decisions topic."""
    serde = AvroSerde(settings, cat.DECISIONS)
    producer = Producer(producer_config(settings))
    topic = settings.topic(cat.DECISIONS.name)
    partitions = cat.partitions_of(cat.DECISIONS, settings)
    rng = random.Random(seed)  # noqa: S311  # test data
    for i in range(count):
        sid = f"SHP-{rng.randrange(10**8):08d}"
        decision = Decision(
            decision_id=f"{seed:08x}{i:024x}",
            shipment_id=sid,
            action=rng.choice(ACTION_MIX),
            rule="R6",
            reason="bench",
            based_on_event_id=f"bench-{i}",
            event_occurred_at=1_764_547_200_000 + i,
            decided_at=1_764_547_200_000 + i,
            details={"event_type": "DELIVERED"},
        )
        while True:
            try:
                producer.produce(
                    topic,
                    serde.encode(decision.to_avro()),
                    sid.encode(),
                    partition=partition_for(sid, partitions),
                )
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush(60)


def delivered(worker: Worker) -> float:
    """Deliveries the worker counted so far (``shipstream_action_deliveries_total``)."""
    try:
        text = httpx.get(worker.url + "/metrics", timeout=2.0).text
    except httpx.HTTPError:
        return 0.0
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "shipstream_action_deliveries_total"
    )


def drain(env: BenchEnv, rep: int, count: int, timeout_s: float = 600.0) -> dict[str, Any]:
    """One communication worker delivers ``count`` preloaded decisions; its CPU per decision."""
    settings = env.app(f"d{rep}")
    preload(settings, count, seed=rep + 1)
    log_dir = env.state_dir / "logs" / settings.app_id
    endpoint = Endpoint(env.ports.endpoint, 0.0, rep + 1, log_dir / "endpoint.log")
    endpoint.args = ["--port", str(env.ports.endpoint)]  # answers at once, never fails
    endpoint.start()
    fleet = env.fleet(settings)
    worker = fleet.add("communication")
    sampler, outside = TreeSampler(), TreeSampler()
    try:
        worker.start()
        assert worker.pid is not None  # noqa: S101  # just started
        assert endpoint.proc is not None  # noqa: S101  # started above
        sampler.add(worker.pid, worker.name)
        outside.add(endpoint.proc.pid, "endpoint")
        sampler.start()
        outside.start()
        worker.wait_ready(timeout=300)
        first: tuple[float, float] | None = None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            n = delivered(worker)
            now = time.time()
            if n > 0 and first is None:
                first = (now, n)
            if n >= count:
                break
            time.sleep(0.2)
        else:
            msg = f"{settings.app_id}: {delivered(worker):.0f} of {count} delivered in {timeout_s}s"
            raise TimeoutError(msg)
    finally:
        fleet.stop_all()
        sampler.stop()
        outside.stop()
        endpoint.stop()
    assert first is not None  # noqa: S101  # the loop saw deliveries to reach count
    t0, n0 = first
    in_window = count - int(n0)
    cpu = window_cpu(sampler, t0, now)
    endpoint_cpu = window_cpu(outside, t0, now)
    return {
        "rep": rep,
        "decisions": count,
        "in_window": in_window,
        "wall_s": round(now - t0, 2),
        "cpu_s": None if cpu is None else round(cpu, 2),
        "endpoint_cpu_s": None if endpoint_cpu is None else round(endpoint_cpu, 2),
        "per_s": rate(in_window, now - t0),
        "cpu_us_per_decision": None if cpu is None else round(1e6 * cpu / in_window, 1),
    }


def run(env: BenchEnv, reps: int, decisions: int) -> dict[str, Any]:
    """``reps`` drains of ``decisions`` each; returns the JSON body."""
    results = []
    for rep in range(reps):
        results.append(drain(env, rep, decisions))
        print(results[-1], flush=True)  # progress
    cpu = summarize([r["cpu_us_per_decision"] for r in results])
    per_s = summarize([r["per_s"] for r in results])
    return {
        "reps": results,
        "summary": {"cpu_us_per_decision": cpu.as_dict(), "per_s": per_s.as_dict()},
        "lines": [
            f"communication, 1 worker, {decisions} preloaded decisions to the reference endpoint:",
            f"  CPU per decision {cpu.text(' us')}; {per_s.text(' decisions/s')}",
        ],
    }
