"""Consumer lag from the real broker (127.0.0.1:9092, or SHIPSTREAM_BROKER).

Creates a topic and a consumer group named ``opslag-<uuid>`` and deletes both afterwards; the
broker is shared, so nothing else is created. Fails, never skips, when the broker is down.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.monitoring.lag import LagSampler

pytestmark = pytest.mark.integration

BROKER = os.environ.get("SHIPSTREAM_BROKER", "127.0.0.1:9092")


@pytest.fixture
def admin() -> AdminClient:
    client = AdminClient({"bootstrap.servers": BROKER, "socket.timeout.ms": 10000})
    try:
        client.list_topics(timeout=10)
    except KafkaException as exc:
        pytest.fail(f"Kafka is not up at {BROKER} ({exc}); run `make up` (make test does it)")
    return client


@pytest.fixture
def names(admin: AdminClient) -> Iterator[tuple[str, str]]:
    """A fresh two-partition topic and a group name; both deleted afterwards."""
    tag = f"opslag-{uuid.uuid4().hex[:12]}"
    topic, group = f"{tag}.events", f"{tag}-group"
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(30)
    yield topic, group
    for fut in admin.delete_consumer_groups([group], request_timeout=30).values():
        try:
            fut.result(40)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                raise
    admin.delete_topics([topic], operation_timeout=30)[topic].result(40)


def produce(topic: str, partition: int, n: int) -> None:
    producer = Producer({"bootstrap.servers": BROKER, "acks": "all"})
    for i in range(n):
        producer.produce(topic, key=f"k{i}".encode(), value=b"v", partition=partition)
    assert producer.flush(30) == 0, "records still unsent after 30 s"


def commit(group: str, topic: str, partition: int, offset: int) -> None:
    """Commit an offset as a consumer of ``group`` would, then leave (a stalled consumer)."""
    consumer = Consumer(
        {
            "bootstrap.servers": BROKER,
            "group.id": group,
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.commit(offsets=[TopicPartition(topic, partition, offset)], asynchronous=False)
    finally:
        consumer.close()


def lags_of(sampler: LagSampler, topic: str) -> dict[int, int]:
    return {s.partition: s.lag for s in sampler.sample() if s.topic == topic}


def test_lag_is_high_watermark_minus_committed_and_grows_while_stalled(
    names: tuple[str, str],
) -> None:
    topic, group = names
    n, committed, m = 10, 6, 4
    produce(topic, 0, n)
    produce(topic, 1, m)
    commit(group, topic, 0, committed)

    sampler = LagSampler(BROKER, groups=[group])
    # partition 1 has no commit: its lag counts from the low watermark
    assert lags_of(sampler, topic) == {0: n - committed, 1: m}

    produce(topic, 0, 5)  # nobody consumes: the lag keeps growing
    assert lags_of(sampler, topic) == {0: n + 5 - committed, 1: m}


def test_prefix_finds_our_group_and_never_apicurio(names: tuple[str, str]) -> None:
    topic, group = names
    produce(topic, 0, 3)
    commit(group, topic, 0, 1)

    by_prefix = LagSampler(BROKER, group_prefix=group.rsplit("-", 1)[0])
    assert by_prefix.group_ids() == [group]
    assert lags_of(by_prefix, topic) == {0: 2, 1: 0}

    everything = LagSampler(BROKER, group_prefix="")
    assert group in everything.group_ids()
    assert not [g for g in everything.group_ids() if g.startswith("apicurio-")]
