"""Publishing the hub network to ``reference.hubs`` (compacted: the latest per hub wins)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streams.codecs.avro import AvroSerde
from streams.kafka.producer import make_producer
from streams.reference.hubs import load_hubs
from streams.settings import Settings
from streams.topics import HUBS


def publish_hubs(
    settings: Settings, hubs: list[dict[str, Any]] | None = None, path: Path | None = None
) -> int:
    """Publish hubs (default: the shipped network); returns how many were sent."""
    records = hubs if hubs is not None else load_hubs(path)
    serde = AvroSerde(settings, HUBS)
    producer = make_producer(settings)
    topic = settings.topic(HUBS.name)
    for hub in records:
        producer.produce(topic, key=hub["code"].encode(), value=serde.encode(hub))
    remaining = producer.flush(30)
    if remaining:
        msg = f"{remaining} hub records were not acknowledged by {settings.broker} within 30 s"
        raise RuntimeError(msg)
    return len(records)


def remove_hubs(settings: Settings, codes: list[str]) -> None:
    """Remove hubs from the network: a tombstone per code (compaction drops the hub)."""
    producer = make_producer(settings)
    topic = settings.topic(HUBS.name)
    for code in codes:
        producer.produce(topic, key=code.encode(), value=None)
    remaining = producer.flush(30)
    if remaining:
        msg = f"{remaining} hub tombstones were not acknowledged by {settings.broker} within 30 s"
        raise RuntimeError(msg)
