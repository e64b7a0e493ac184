"""The pieces every role shares: the Faust app, its topics, serdes, metrics and DLQ writer.

Built once per app from :class:`Settings`; roles receive it and register their agents.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import faust
from confluent_kafka import Producer
from faust.types import TableT, TopicT

from streams import topics as cat
from streams.codecs.avro import AvroSerde
from streams.codecs.faust_codec import ConfluentAvroCodec
from streams.dead_letter import DeadLetter, from_exception
from streams.kafka.deliveries import Deliveries
from streams.kafka.producer import make_producer
from streams.metrics import Metrics
from streams.patches import batch_delivery
from streams.patches.table_io import RAW, Codec, TableIO
from streams.settings import Settings

if TYPE_CHECKING:
    from tables.hubs import HubNetwork

log = logging.getLogger(__name__)

INGESTED_AT_HEADER = "shipstream.ingested_at"


def now_ms() -> int:
    """Wall clock in epoch milliseconds."""
    return int(time.time() * 1000)


@dataclass
class Pipeline:
    """An app plus the catalogue's topics bound to it."""

    app: faust.App
    settings: Settings
    metrics: Metrics
    serdes: dict[tuple[str, bool], AvroSerde] = field(default_factory=dict)
    topics: dict[str, TopicT] = field(default_factory=dict)
    hub_network: HubNetwork | None = None
    _producer: Producer | None = None
    _table_ios: list[TableIO] = field(default_factory=list)

    def table_io(self, table: TableT, codec: Codec = RAW) -> TableIO:
        """Batch reads and writes of ``table`` (one librdkafka producer per worker for all).

        Its decoded values are forgotten at every rebalance (``TableIO.forget``).
        """
        io = TableIO(table, self.producer, codec)
        if not self._table_ios:
            # Every rebalance ends with an assignment, before any agent reads again. mode types
            # receivers with a keyword-only `signal`; ours takes it through **_kw.
            self.app.on_partitions_assigned.connect(self._forget_decoded)  # type: ignore[arg-type]
        self._table_ios.append(io)
        return io

    async def _forget_decoded(self, _sender: Any, *_args: Any, **_kw: Any) -> None:
        for io in self._table_ios:
            io.forget()

    def deliveries(self) -> Deliveries:
        """A batch's records to the broker through the worker's librdkafka producer."""
        return Deliveries(self.producer())

    def producer(self) -> Producer:
        """The worker's librdkafka producer (changelogs, internal topics, decisions)."""
        if self._producer is None:
            self._producer = make_producer(self.settings)
        return self._producer

    def topic(self, spec: cat.TopicSpec) -> TopicT:
        """The faust topic of a catalogue entry, made once."""
        name = self.settings.topic(spec.name)
        if name not in self.topics:
            self.topics[name] = self.app.topic(
                name,
                key_type=str,
                key_serializer="raw",
                value_serializer=self._value_serializer(spec),
                partitions=cat.partitions_of(spec, self.settings),
                replicas=self.settings.replication,
                internal=spec.internal,
                config=cat.topic_config(spec),
            )
        return self.topics[name]

    def raw_topic(self, spec: cat.TopicSpec) -> TopicT:
        """The topic read as raw bytes, so the agent decodes and dead-letters bad records."""
        return self.app.topic(
            self.settings.topic(spec.name),
            key_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=cat.partitions_of(spec, self.settings),
        )

    def batch_agent(
        self,
        spec: cat.TopicSpec,
        name: str,
        body: Callable[[batch_delivery.BatchSource], Awaitable[None]],
        max_records: int,
        within_s: float,
    ) -> None:
        """An agent that takes the topic's records in batches, past faust's per-record path.

        faust still subscribes the topic for the agent and assigns its partitions; the
        records go to a :class:`~streams.patches.batch_delivery.BatchSource` that ``body``
        runs (``source.run(handler)``).
        """
        topic = self.raw_topic(spec)
        source = batch_delivery.source(
            self.app, topic.get_topic_name(), max_records=max_records, within_s=within_s
        )

        async def agent(_stream: Any) -> None:
            await body(source)

        self.app.agent(topic, name=name)(agent)

    def serde(self, spec: cat.TopicSpec, *, in_loop: bool = False) -> AvroSerde:
        """The Avro serde of a catalogue topic (one per topic and kind, ids cached inside).

        ``in_loop``: for decodes in the event loop, which load schemas through
        ``streams.codecs.avro.decode_off_loop`` (the serde never asks the registry itself).
        """
        key = (spec.name, in_loop)
        if key not in self.serdes:
            self.serdes[key] = AvroSerde(
                self.settings,
                spec,
                on_registry_error=self._count_registry_error,
                defer_lookups=in_loop,
            )
        return self.serdes[key]

    def _count_registry_error(self, kind: str) -> None:
        self.metrics.registry_errors.labels(kind).inc()

    def _value_serializer(self, spec: cat.TopicSpec) -> Any:
        if spec.schema_file is not None:
            return ConfluentAvroCodec(self.serde(spec))
        # JSON topics carry streams.messages, which encodes itself (orjson).
        return "raw"

    async def dead_letter(self, letter: DeadLetter) -> None:
        """Write a dead letter and count it; never raises for the letter's content."""
        self.metrics.dlq.labels(letter.stage, letter.reason).inc()
        log.warning(
            "dead letter: stage=%s reason=%s source=%s[%s]@%s: %s",
            letter.stage,
            letter.reason,
            letter.source_topic,
            letter.source_partition,
            letter.source_offset,
            letter.message,
        )
        await self.topic(cat.DLQ).send(key=letter.key, value=letter.value, headers=letter.headers())

    async def dead_letter_record(
        self, record: Any, exc: BaseException, stage: str, reason: str
    ) -> None:
        """Dead-letter a record as it was read, with its position.

        ``record``: anything with Kafka's record fields (``key``, ``value``, ``topic``,
        ``partition``, ``offset``): aiokafka's ConsumerRecord or a faust event's message.
        """
        await self.dead_letter(
            from_exception(
                exc,
                key=record.key,
                value=record.value,
                stage=stage,
                reason=reason,
                source_topic=record.topic,
                source_partition=record.partition,
                source_offset=record.offset,
            )
        )
