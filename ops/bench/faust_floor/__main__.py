"""``python -m ops.bench.faust_floor``: what faust costs per record, before any pipeline logic.

Preloads N records (300 bytes, 20,000 keys, 12 partitions) on the chaos stack's broker, then
runs one faust worker per variant over all of them (``app.py``) and reports CPU microseconds
per record: ``events`` (faust delivers each record to an agent), ``take`` (in batches),
``batch`` (whole fetches, ``streams.patches.batch_delivery``: what the agents use),
``table`` (+ one faust table write per record: changelog through faust's producer) and
``table_io`` (+ the same writes per batch through ``tables.writeback`` and
``streams.patches.table_io``, as the agents do). ``FLOOR_NO_SENSORS=1``: the workers use
shipstream's ``App`` (faust's Monitor not called per record). Writes
``.local/bench/faust_floor.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from confluent_kafka.admin import NewTopic

from ops.chaos.config import REPO_ROOT, STATE_DIR, StackPorts
from ops.chaos.stack import ChaosStack, exclusive
from streams.kafka import admin
from streams.kafka.producer import make_producer
from streams.settings import Settings

VARIANTS = ("events", "take", "batch", "table", "table_io")
OUT = REPO_ROOT / ".local" / "bench" / "faust_floor.json"


def preload(settings: Settings, topic: str, records: int) -> None:
    """``records`` values of 300 bytes over 20,000 keys."""
    client = admin.admin(settings)  # kept referenced until the result is in
    client.create_topics([NewTopic(topic, 12, 1)])[topic].result()
    producer = make_producer(settings, **{"linger.ms": 20})
    value = os.urandom(150).hex().encode()
    for i in range(records):
        producer.produce(topic, key=f"SHP-{i % 20_000:08d}".encode(), value=value)
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush()


def run_variant(variant: str, broker: str, topic: str, records: int, timeout: float) -> dict:
    """One worker over the whole topic; its result line as a dict."""
    with tempfile.TemporaryDirectory(prefix="floor-") as data:
        env = {**os.environ, "FLOOR_VARIANT": variant, "FLOOR_N": str(records),
               "FLOOR_TOPIC": topic, "FLOOR_BROKER": broker, "FLOOR_DATA": data}  # fmt: skip
        cmd = [sys.executable, "-m", "faust", "-A", "ops.bench.faust_floor.app", "worker",
               "-l", "warn", "--without-web"]  # fmt: skip
        proc = subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip
    for line in (proc.stdout + proc.stderr).splitlines():
        if "FLOOR " in line:
            result: dict = json.loads(line.split("FLOOR ", 1)[1])
            result["us_per_record"] = round(result["cpu_s"] / result["records"] * 1e6, 1)
            return result
    return {"variant": variant, "error": (proc.stderr or proc.stdout)[-500:]}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the variants; exit 1 if one failed."""
    p = argparse.ArgumentParser(prog="python -m ops.bench.faust_floor", description=__doc__)
    p.add_argument("--records", type=int, default=50_000)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per variant")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)
    ports = StackPorts()
    settings = Settings(broker=ports.broker, registry_url=ports.registry_url)
    topic = f"floor{int(time.time()) % 10**6}.in"
    stack = ChaosStack(ports, STATE_DIR)
    results = []
    with exclusive(STATE_DIR):
        try:
            stack.up()
            preload(settings, topic, a.records)
            for variant in a.variants.split(","):
                results.append(run_variant(variant, ports.broker, topic, a.records, a.timeout))
                print(json.dumps(results[-1]), flush=True)
        finally:
            admin.delete_topics(settings, [topic])
            stack.down()
    print(f"\n{'variant':<10} {'records':>8} {'CPU s':>7} {'wall s':>7} {'µs/record':>10}")
    for r in results:
        if "error" in r:
            print(f"{r['variant']:<10} FAILED {r['error'][-200:]}")
            continue
        print(f"{r['variant']:<10} {r['records']:>8} {r['cpu_s']:>7.2f} {r['wall_s']:>7.2f} "
              f"{r['us_per_record']:>10.1f}")  # fmt: skip
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"command": "python -m ops.bench.faust_floor "
                                 + " ".join(argv or sys.argv[1:]), "measured_at":
                                 time.strftime("%Y-%m-%dT%H:%M:%S%z"), "loadavg":
                                 os.getloadavg(), "results": results}, indent=1))  # fmt: skip
    print(f"written {a.out}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
