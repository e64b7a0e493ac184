"""The decision agent's read of decisions already committed, against the real broker."""

from __future__ import annotations

import asyncio
import time

import pytest

from streams.agents.decision.sent import KafkaLoader
from streams.codecs import registry
from streams.codecs.avro import AvroSerde
from streams.kafka import admin
from streams.kafka.producer import make_producer
from streams.model import Action, Decision
from streams.settings import Settings
from streams.topics import DECISIONS

pytestmark = pytest.mark.integration


def decision(n: int) -> Decision:
    return Decision(
        decision_id=f"d{n:04d}",
        shipment_id=f"SHP-{n}",
        action=Action.CLOSE,
        rule="R6",
        reason="delivered",
        based_on_event_id=f"e{n}",
        event_occurred_at=1_795_000_000_000,
        decided_at=1_795_000_000_000,
    )


@pytest.mark.timeout(120)
def test_loader_reads_the_ids_committed_since_a_time_per_partition(settings: Settings) -> None:
    admin.ensure_topics(settings)
    registry.register_all(settings)
    serde = AvroSerde(settings, DECISIONS)
    topic = settings.topic(DECISIONS.name)
    now = int(time.time() * 1000)
    producer = make_producer(settings)
    for n in range(5):  # ten minutes old: before the replay can have started
        value = serde.encode(decision(n).to_avro())
        producer.produce(topic, value=value, key=b"k", partition=1, timestamp=now - 600_000)
    for n in range(5, 12):
        value = serde.encode(decision(n).to_avro())
        producer.produce(topic, value=value, key=b"k", partition=1, timestamp=now)
    producer.produce(topic, value=serde.encode(decision(99).to_avro()), key=b"k", partition=2)
    assert producer.flush(30) == 0

    recent = {f"d{n:04d}" for n in range(5, 12)}
    wanted = [
        ({1: now - 60_000}, {1: recent}),
        ({1: 0}, {1: {f"d{n:04d}" for n in range(12)}}),
        ({3: 0}, {3: set()}),  # an empty partition
        ({2: now + 3_600_000}, {2: set()}),  # nothing that recent
        # Several partitions in one read, each from its own time.
        ({1: now - 60_000, 2: 0, 3: 0}, {1: recent, 2: {"d0099"}, 3: set()}),
    ]

    async def loads() -> list[dict[int, set[str]]]:
        load = KafkaLoader(settings, topic, serde.decode)  # one consumer for every read
        try:
            return [await load(since) for since, _ in wanted]
        finally:
            await load.stop()

    assert asyncio.run(loads()) == [ids for _, ids in wanted]
