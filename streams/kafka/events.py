"""Publishing shipment events from outside a worker (file replay, load generator).

Validation is the same as ``POST /ingest``: a record that fails it goes to the DLQ with its
reason and the original bytes, so the file's every line is accounted for.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message

from streams.agents.ingestion.validation import ValidationError, parse_record
from streams.codecs.avro import AvroSerde
from streams.dead_letter import DeadLetter
from streams.kafka.producer import make_producer
from streams.model import ShipmentEvent
from streams.pipeline import INGESTED_AT_HEADER, now_ms
from streams.settings import Settings
from streams.topics import DLQ, EVENTS

STAGE = "ingestion"


class Generated(Protocol):
    """A generated record (the load generator's ``Item``): a key and a JSON record or bytes."""

    @property
    def key(self) -> str | None:  # noqa: D102
        ...

    @property
    def value(self) -> dict[str, Any] | bytes:  # noqa: D102
        ...


class PublishError(RuntimeError):
    """The broker did not acknowledge records."""


class EventPublisher:
    """Produces events keyed by shipment_id (murmur2) and dead-letters rejects."""

    def __init__(self, settings: Settings, **producer_overrides: Any) -> None:
        self.settings = settings
        self.serde = AvroSerde(settings, EVENTS)
        self.producer = make_producer(settings, **producer_overrides)
        self.events_topic = settings.topic(EVENTS.name)
        self.dlq_topic = settings.topic(DLQ.name)
        self.counts: Counter[str] = Counter()
        self.errors: list[str] = []

    def _on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self.counts["failed"] += 1
            self.errors.append(str(err))

    def _produce(self, topic: str, key: bytes | None, value: bytes | None, **kw: Any) -> None:
        while True:
            try:
                self.producer.produce(
                    topic, key=key, value=value, on_delivery=self._on_delivery, **kw
                )
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                self.producer.poll(0.1)
        self.producer.poll(0)

    def publish(self, event: ShipmentEvent | dict[str, Any]) -> None:
        """Produce one valid event (a ShipmentEvent or its Avro dict)."""
        record = event.to_avro() if isinstance(event, ShipmentEvent) else event
        self._produce(
            self.events_topic,
            record["shipment_id"].encode(),
            self.serde.encode(record),
            headers=[(INGESTED_AT_HEADER, str(now_ms()).encode())],
        )
        self.counts["published"] += 1

    def publish_raw(self, key: bytes | None, value: bytes) -> None:
        """Produce bytes as they are (to exercise the pipeline's handling of bad input)."""
        self._produce(self.events_topic, key, value)
        self.counts["published_raw"] += 1

    def reject(self, raw: bytes, reason: str, message: str, source: str, index: int) -> None:
        """Dead-letter a record that failed validation before it reached the topic."""
        letter = DeadLetter(
            key=None,
            value=raw,
            stage=STAGE,
            reason=reason,
            error_class="ValidationError",
            message=message,
            source_topic=source,
            source_offset=index,
        )
        self._produce(self.dlq_topic, letter.key, letter.value, headers=letter.headers())
        self.counts["rejected"] += 1

    def publish_generated(self, item: Generated, index: int, source: str = "loadgen") -> None:
        """Send one load-generator item the way the real sources would.

        Raw bytes go to the topic as they are (for processing to dead-letter); JSON records go
        through ingestion's validation, so malformed ones are dead-lettered at ingestion.
        """
        if isinstance(item.value, bytes):
            self.publish_raw(item.key.encode() if item.key else None, item.value)
            return
        try:
            self.publish(parse_record(item.value))
        except ValidationError as exc:
            raw = json.dumps(item.value, separators=(",", ":")).encode()
            self.reject(raw, exc.reason, exc.message, source, index)

    def flush(self, timeout: float = 60.0) -> None:
        """Wait for every record to be acknowledged; raise if some were not."""
        remaining = self.producer.flush(timeout)
        if remaining or self.counts["failed"]:
            msg = (
                f"{remaining} records unacknowledged and {self.counts['failed']} failed "
                f"on {self.settings.broker}: {self.errors[:3]}"
            )
            raise PublishError(msg)
