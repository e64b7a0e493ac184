"""Reading a topic from the beginning up to its current end, outside any consumer group.

Used by the CLI (reconcile, tail) and tests: it assigns partitions directly, so it commits
nothing and disturbs no group. ``read_committed`` hides aborted transactional writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from streams.errors import ServiceUnavailable
from streams.kafka.clients import librdkafka_config
from streams.settings import Settings


@dataclass(frozen=True)
class Record:
    """A consumed record with plain types (confluent-kafka's Message is all Optionals)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    timestamp_ms: int

    @classmethod
    def of(cls, msg: Message) -> Record:
        """Convert a message that carries data (not an error or EOF event)."""
        value, key = msg.value(), msg.key()
        return cls(
            topic=msg.topic() or "",
            partition=msg.partition() or 0,
            offset=msg.offset() or 0,
            key=key.encode() if isinstance(key, str) else key,
            value=value.encode() if isinstance(value, str) else value,
            headers=_headers(msg),
            timestamp_ms=msg.timestamp()[1],
        )

    def header(self, name: str) -> str | None:
        """A header as text."""
        value = self.headers.get(name)
        return None if value is None else value.decode(errors="replace")


def _headers(msg: Message) -> dict[str, bytes]:
    raw = msg.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {str(k): (v.encode() if isinstance(v, str) else v or b"") for k, v in pairs}


def consumer(settings: Settings, **overrides: object) -> Consumer:
    """A group-less consumer (the group id is random and never committed)."""
    config: dict[str, object] = {
        **librdkafka_config(settings),
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


def read_all(settings: Settings, topic: str, timeout: float = 30.0) -> Iterator[Record]:
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
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:  # noqa: SLF001  # librdkafka's name
                    pending.discard(msg.partition() or 0)
                    continue
                raise KafkaException(err)
            record = Record.of(msg)
            if record.offset >= marks[record.partition][1] - 1:
                pending.discard(record.partition)
            yield record
    finally:
        c.close()
