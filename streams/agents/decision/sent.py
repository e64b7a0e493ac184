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

The partitions of a batch are read together, by one consumer: read one by one, each with a
consumer of its own, they held the first decisions after every assignment for seconds (12
partitions, ~2.5 s on the 2-core machine: most of `make demo`'s p99 on a slow host).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka.clients import aiokafka_config
from streams.settings import Settings

log = logging.getLogger(__name__)

#: How far before the first replayed record to look, for clocks of different hosts.
MARGIN_MS = 60_000
LOAD_TIMEOUT_S = 30.0
FETCH_MAX_WAIT_MS = 10

#: ``load({partition: since_ms})`` -> ``{partition: decision ids committed there since then}``
Loader = Callable[[Mapping[int, int]], Awaitable[dict[int, set[str]]]]


class SentDecisions:
    """Decision ids per partition found in Kafka when this worker took the partition over."""

    def __init__(self, load: Loader) -> None:
        self._load = load
        self._ids: dict[int, set[str]] = {}

    def reset(self) -> None:
        """Forget everything: after an assignment, any partition may come with a replay."""
        self._ids.clear()

    async def prepare(self, first_record_ms: Mapping[int, int]) -> None:
        """Load, in one read, the ids of the partitions not loaded in this assignment yet.

        ``first_record_ms``: partition -> timestamp of its first record in the batch.
        """
        todo = {
            p: max(0, ms - MARGIN_MS) for p, ms in first_record_ms.items() if p not in self._ids
        }
        if not todo:
            return
        try:
            found = await asyncio.wait_for(self._load(todo), LOAD_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001  # any failure: fall back to at-least-once
            log.warning(
                "could not read the decisions already sent on partitions %s (%r); a decision "
                "replayed from before a crash may be sent twice (same decision_id)",
                sorted(todo),
                exc,
            )
            found = {}
        for partition in todo:
            self._ids[partition] = found.get(partition, set())

    def already_sent(self, partition: int, decision_id: str) -> bool:
        """Whether a previous owner of ``partition`` committed ``decision_id``."""
        return decision_id in self._ids.get(partition, ())


class KafkaLoader:
    """Reads the decision ids of ``topic`` (read_committed, outside any consumer group).

    One consumer serves every load of the worker's life, started before the first record
    (:meth:`start`): started per load, it held the first decisions after an assignment up to
    2 s on a busy 2-core machine. Between loads its partitions are paused, so it fetches
    nothing; its topic stays subscribed (unsubscribing made the next load wait for a metadata
    refresh), and its fetches wait at most 10 ms for data (a request for offsets queues behind
    a fetch on the broker's connection: with the default 500 ms every load took 0.5 s).
    """

    def __init__(
        self, settings: Settings, topic: str, decode: Callable[[bytes], dict[str, Any]]
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.decode = decode
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Connect the consumer (again, after a load that failed)."""
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **aiokafka_config(self.settings),
                enable_auto_commit=False,
                isolation_level="read_committed",
                fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            )
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()  # its connections and tasks, half made
                raise
            self._consumer = consumer

    async def stop(self) -> None:
        """Close the consumer."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def __call__(self, since_ms: Mapping[int, int]) -> dict[int, set[str]]:
        """The ids committed to each partition since its time (a ``Loader``)."""
        await self.start()
        consumer = self._consumer
        assert consumer is not None  # noqa: S101  # start() made it
        try:
            return await self._read(consumer, since_ms)
        except BaseException:
            await self.stop()  # cancelled by the timeout or failed: a fresh one next time
            raise
        finally:
            if self._consumer is not None:
                consumer.pause(*consumer.assignment())

    async def _read(
        self, consumer: AIOKafkaConsumer, since_ms: Mapping[int, int]
    ) -> dict[int, set[str]]:
        tps = {TopicPartition(self.topic, p): ms for p, ms in since_ms.items()}
        consumer.assign(list(tps))
        ends = await consumer.end_offsets(list(tps))
        starts = await consumer.offsets_for_times(tps)
        ids: dict[int, set[str]] = {tp.partition: set() for tp in tps}
        pending = {}
        for tp in tps:
            found = starts.get(tp)
            start = ends[tp] if found is None else found.offset
            if start < ends[tp]:
                consumer.seek(tp, start)
                pending[tp] = ends[tp]
            else:
                consumer.pause(tp)
        while pending:
            fetched = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in fetched.items():  # only the pending partitions asked for
                end = pending[tp]
                for record in records:
                    if record.offset < end and record.value is not None:
                        ids[tp.partition].add(str(self.decode(record.value)["decision_id"]))
            for tp in list(pending):
                if await consumer.position(tp) >= pending[tp]:
                    del pending[tp]
                    consumer.pause(tp)
        return ids
