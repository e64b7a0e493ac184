"""The faust app the floor benchmark runs: one agent, one variant, counts and exits.

Started as ``faust -A ops.bench.faust_floor.app worker`` by ``__main__`` with the variant and
the topic in the environment (FLOOR_*). When the agent has handled FLOOR_N records it prints
one JSON line (records, wall and CPU seconds from the first record) and exits.
"""

from __future__ import annotations

import json
import os
import resource
import time
from typing import Any

import faust
from faust.types import StreamT

from streams.app import App
from streams.kafka.producer import make_producer
from streams.patches import batch_delivery
from streams.patches.table_io import TableIO
from streams.settings import Settings

VARIANT = os.environ.get("FLOOR_VARIANT", "events")
N = int(os.environ.get("FLOOR_N", "0"))
TOPIC = os.environ.get("FLOOR_TOPIC", "floor.in")
BROKER = os.environ.get("FLOOR_BROKER", "127.0.0.1:19092")
BATCH, WITHIN = 500, 0.02

# FLOOR_NO_SENSORS=1: shipstream's App, whose Monitor is not called per record.
app = (App if os.environ.get("FLOOR_NO_SENSORS") else faust.App)(
    f"floor-{VARIANT}-{os.getpid()}",
    broker=f"kafka://{BROKER}",
    store="rocksdb://",
    datadir=os.environ.get("FLOOR_DATA", ".local/bench/floor-data"),
    web_enabled=False,
    consumer_auto_offset_reset="earliest",
    topic_partitions=12,
    producer_linger=0.005,
    producer_max_batch_size=256 * 1024,
)
source = app.topic(TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw",
                   value_serializer="raw")  # fmt: skip
table = app.Table("t", key_type=bytes, value_type=bytes, partitions=12)
# "batch": the records reach the agent a fetch at a time, past faust's per-record path.
batches = batch_delivery.source(app, TOPIC, BATCH, WITHIN) if VARIANT == "batch" else None
_state: dict[str, Any] = {"n": 0, "start": None}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _count(k: int) -> None:
    if _state["start"] is None:
        _state["start"] = (time.time(), _cpu())
    _state["n"] += k
    if _state["n"] >= N:
        wall0, cpu0 = _state["start"]
        result = {"variant": VARIANT, "records": _state["n"], "wall_s": time.time() - wall0,
                  "cpu_s": _cpu() - cpu0}  # fmt: skip
        print("FLOOR " + json.dumps(result), flush=True)
        os._exit(0)


@app.agent(source)
async def consume(stream: StreamT) -> None:
    """The variant: what each record costs on top of faust delivering it."""
    if VARIANT == "events":  # faust delivers each record to the agent, nothing else
        async for _ in stream.events():
            _count(1)
    elif VARIANT == "take":  # the same, in batches (what the agents used before "batch")
        async for events in stream.take_events(BATCH, WITHIN):  # type: ignore[attr-defined]
            _count(len(events))
    elif VARIANT == "batch" and batches is not None:  # whole fetches (what the agents use)

        async def count(records: Any) -> None:
            _count(len(records))

        await batches.run(count)
    elif VARIANT == "table":  # + one faust table write per record (faust's changelog path)
        async for event in stream.events():
            table[event.message.key] = event.message.value
            _count(1)
    elif VARIANT == "table_io":  # + the same writes through WriteBack and TableIO per batch
        producer = make_producer(Settings(broker=BROKER))
        io = TableIO(table, lambda: producer)
        writes = io.overlay()
        async for events in stream.take_events(BATCH, WITHIN):  # type: ignore[attr-defined]
            for event in events:
                writes.at(event.message.partition)
                writes[event.message.key.decode()] = event.message.value
            await io.flush(writes)
            _count(len(events))
    else:
        msg = f"unknown FLOOR_VARIANT {VARIANT!r}"
        raise SystemExit(msg)
