"""The benchmark's input: generated once, copied record for record to each shipstream run.

``preload`` sends N items of the load generator's realistic mix (duplicates, out-of-order
events, exceptions, cancellations, stalls, malformed records) the way ``shipstream load``
does: valid events Avro-encoded and keyed by shipment id, bytes that are not Avro as they
are, JSON that fails validation to the DLQ (it never reaches the input topic).

A shipstream worker derives every topic name from one prefix, so each shipstream run gets
its own copy of the input (``copy_topic``): same partition, key, value, headers and timestamp
for every record, in offset order. The peers read the original.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from streams.kafka import reader
from streams.kafka.events import EventPublisher
from streams.kafka.producer import make_producer
from streams.settings import Settings
from streams.tools.loadgen.config import LifecycleConfig
from streams.tools.loadgen.stream import generate_items
from streams.tools.loadgen.summary import StreamSummary, counted

log = logging.getLogger(__name__)


def preload(settings: Settings, events: int, seed: int, concurrency: int) -> dict[str, Any]:
    """Send ``events`` generated items; returns what was sent and how long it took."""
    started = time.monotonic()
    summary = StreamSummary()
    publisher = EventPublisher(settings, **{"message.timeout.ms": 600_000})
    items = counted(generate_items(LifecycleConfig(seed=seed, concurrency=concurrency)), summary)
    for i, item in enumerate(itertools.islice(items, events)):
        publisher.publish_generated(item, i, source="bench-throughput")
    publisher.flush(timeout=600)
    return {
        "items": events,
        "seed": seed,
        "concurrency": concurrency,
        "generator": summary.as_dict(),
        "publisher": dict(publisher.counts),
        "seconds": round(time.monotonic() - started, 1),
    }


def topic_records(settings: Settings, topic: str) -> int:
    """Records in a topic now (high minus low watermark, summed over partitions)."""
    return sum(high - low for low, high in reader.end_offsets(settings, topic).values())


def copy_topic(settings: Settings, source: str, target: str, timeout: float = 600.0) -> int:
    """Copy every record of ``source`` to the same partition of ``target``; returns how many."""
    marks = reader.end_offsets(settings, source)
    pending = {p: high for p, (low, high) in marks.items() if high > low}
    consumer = reader.consumer(settings)
    producer = make_producer(settings)
    copied = 0
    try:
        consumer.assign([TopicPartition(source, p, OFFSET_BEGINNING) for p in pending])
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                msg = f"copying {source} to {target}: not done after {timeout}s"
                raise TimeoutError(msg)
            for record in consumer.consume(1000, timeout=1.0):
                err = record.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:  # noqa: SLF001  # public code
                        continue
                    raise KafkaException(err)
                partition, offset = record.partition() or 0, record.offset() or 0
                _, ts = record.timestamp()
                while True:
                    try:
                        producer.produce(
                            target,
                            record.value(),
                            record.key(),
                            partition=partition,
                            timestamp=ts,
                            headers=record.headers(),
                        )
                        break
                    except BufferError:
                        producer.poll(0.1)
                copied += 1
                if partition in pending and offset + 1 >= pending[partition]:
                    del pending[partition]
            producer.poll(0)
        if producer.flush(120):
            msg = f"copying {source} to {target}: records unacknowledged after 120 s"
            raise RuntimeError(msg)
    finally:
        consumer.close()
    return copied


def first_timestamp(settings: Settings, topic: str) -> float | None:
    """Wall time (s) of the earliest record of a topic by its timestamp (None: empty).

    A worker's first output timestamps when it handled its first input record.
    """
    marks = reader.end_offsets(settings, topic)
    parts = [p for p, (low, high) in marks.items() if high > low]
    if not parts:
        return None
    consumer: Consumer = reader.consumer(settings)
    try:
        consumer.assign([TopicPartition(topic, p, marks[p][0]) for p in parts])
        times: dict[int, float] = {}
        deadline = time.monotonic() + 30
        while len(times) < len(parts) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error() is not None:
                continue
            times.setdefault(msg.partition() or 0, msg.timestamp()[1] / 1000)
        return min(times.values()) if times else None
    finally:
        consumer.close()
