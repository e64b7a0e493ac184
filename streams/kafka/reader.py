"""Reading a topic from the beginning up to its current end, outside any consumer group.

Used by the CLI (reconcile, tail) and tests: it assigns partitions directly, so it commits
nothing and disturbs no group. ``read_committed`` hides aborted transactional writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from streams.errors import ServiceUnavailable
from streams.settings import Settings


def consumer(settings: Settings, **overrides: object) -> Consumer:
    """A group-less consumer (the group id is random and never committed)."""
    config: dict[str, object] = {
        "bootstrap.servers": settings.broker,
        "group.id": f"shipstream-reader-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
    }
    config.update(overrides)
    return Consumer(config)


def end_offsets(settings: Settings, topic: str) -> dict[int, tuple[int, int]]:
    """Low and high watermarks by partition."""
    c = consumer(settings)
    try:
        meta = c.list_topics(topic, timeout=10)
        tmeta = meta.topics.get(topic)
        if tmeta is None or tmeta.error is not None:
            msg = f"topic {topic} does not exist on {settings.broker}; run `shipstream bootstrap`"
            raise ServiceUnavailable(msg)
        return {
            p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            for p in tmeta.partitions
        }
    except KafkaException as exc:
        msg = f"cannot reach Kafka at {settings.broker} ({exc}); start it with `make up`"
        raise ServiceUnavailable(msg) from exc
    finally:
        c.close()


def read_all(settings: Settings, topic: str, timeout: float = 30.0) -> Iterator[Message]:
    """Every record of ``topic`` present now, partition by partition interleaved."""
    marks = end_offsets(settings, topic)
    pending = {p for p, (low, high) in marks.items() if high > low}
    if not pending:
        return
    c = consumer(settings)
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        idle = 0.0
        while pending:
            msg = c.poll(1.0)
            if msg is None:
                idle += 1.0
                if idle > timeout:
                    msg_ = f"reading {topic} stalled with partitions {sorted(pending)} unread"
                    raise ServiceUnavailable(msg_)
                continue
            idle = 0.0
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:  # noqa: SLF001  # librdkafka's name
                    pending.discard(msg.partition())
                    continue
                raise KafkaException(msg.error())
            if msg.offset() >= marks[msg.partition()][1] - 1:
                pending.discard(msg.partition())
            yield msg
    finally:
        c.close()
