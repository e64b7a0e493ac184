"""Which decisions already reached ``shipments.decisions``, so a replay does not send them again.

Workers run ``at_least_once`` (README, "Guarantees"). The decision agent awaits a decision's
ack, then writes its memory, whose changelog record leaves with the producer a moment later. A
worker killed in between leaves a decision in Kafka that the memory does not know; whoever
takes the partition replays the update from the committed offset, the rules take the same
decision again, and the same ``decision_id`` is committed twice (chaos run chaos1795634141:
2 of 13,400 decisions).

So after each assignment, before a partition of ``shipments.updates`` emits anything, the agent
reads the decision ids committed to the same partition of ``shipments.decisions`` (both are
keyed by shipment id) since shortly before the first record it was handed. The replay starts at
that record, and a previous owner wrote anything it decided from the replay after that record
existed. Those ids are skipped. The read happens once per partition and assignment and covers
seconds of decisions; if it fails, the agent falls back to at-least-once and says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka.clients import aiokafka_config
from streams.settings import Settings

log = logging.getLogger(__name__)

#: How far before the first replayed record to look, for clocks of different hosts.
MARGIN_MS = 60_000
LOAD_TIMEOUT_S = 30.0

Loader = Callable[[int, int], Awaitable[set[str]]]


class SentDecisions:
    """Decision ids per partition found in Kafka when this worker took the partition over."""

    def __init__(self, load: Loader) -> None:
        self._load = load
        self._ids: dict[int, set[str]] = {}

    def reset(self) -> None:
        """Forget everything: after an assignment, any partition may come with a replay."""
        self._ids.clear()

    async def prepare(self, partition: int, first_record_ms: int) -> None:
        """Load the ids of ``partition`` once, before its first decision of this assignment."""
        if partition in self._ids:
            return
        since = max(0, first_record_ms - MARGIN_MS)
        try:
            ids = await asyncio.wait_for(self._load(partition, since), LOAD_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001  # any failure: fall back to at-least-once
            log.warning(
                "could not read the decisions already sent on partition %d (%r); a decision "
                "replayed from before a crash may be sent twice (same decision_id)",
                partition,
                exc,
            )
            ids = set()
        self._ids[partition] = ids

    def already_sent(self, partition: int, decision_id: str) -> bool:
        """Whether a previous owner of ``partition`` committed ``decision_id``."""
        return decision_id in self._ids.get(partition, ())


def kafka_loader(
    settings: Settings, topic: str, decode: Callable[[bytes], dict[str, Any]]
) -> Loader:
    """A loader reading ``topic`` with read_committed, outside any consumer group."""

    async def load(partition: int, since_ms: int) -> set[str]:
        tp = TopicPartition(topic, partition)
        consumer = AIOKafkaConsumer(
            **aiokafka_config(settings), enable_auto_commit=False, isolation_level="read_committed"
        )
        await consumer.start()
        try:
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            found = (await consumer.offsets_for_times({tp: since_ms})).get(tp)
            start = end if found is None else found.offset
            ids: set[str] = set()
            if start >= end:
                return ids
            consumer.seek(tp, start)
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for record in batch.get(tp, []):
                    if record.offset < end and record.value is not None:
                        ids.add(str(decode(record.value)["decision_id"]))
            return ids
        finally:
            await consumer.stop()

    return load
