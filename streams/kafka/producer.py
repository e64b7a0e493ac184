"""confluent-kafka producers that put each key on the partition the Java client would."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Producer

from streams.kafka.clients import librdkafka_config
from streams.settings import Settings


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Idempotent producer config with murmur2 partitioning (SPEC: same key, same partition)."""
    config: dict[str, Any] = {
        **librdkafka_config(settings),
        "partitioner": "murmur2_random",
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
    }
    config.update(overrides)
    return config


def make_producer(settings: Settings, **overrides: Any) -> Producer:
    """A producer for shipstream's topics."""
    return Producer(producer_config(settings, **overrides))
