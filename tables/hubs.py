"""``hubs``: the hub network, held by every worker and kept live from ``reference.hubs``.

Writer: ``shipstream bootstrap`` / ``shipstream hubs`` (not the workers). Key: hub code; a
tombstone removes a hub. Stored nowhere but the compacted topic itself: each worker reads it
from the beginning at start (agents wait until that first read reaches the end) and then keeps
following it, so a new hub, a capacity or a transit time applies within a poll, on every
worker, without a restart — what Kafka Streams calls a global table.

Not a faust GlobalTable: faust 0.15.3 restores a global table during recovery and then never
reads its changelog again in steady state (it logs "Stream has not started processing
TP(topic='reference.hubs')" every few seconds), so hubs published while workers ran were
never seen (issue 9). A plain consumer outside any group, one per worker, has none of that.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams import topics as cat
from streams.codecs.avro import AvroSerde, decode_off_loop
from streams.kafka.clients import aiokafka_config
from streams.model import Hub

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

log = logging.getLogger(__name__)

NAME = "hubs"
POLL_MS = 500
RETRY_S = 2.0


class HubNetwork(Mapping[str, Hub]):
    """``code -> Hub``, what the pure modules read; :meth:`run` keeps it current."""

    def __init__(
        self,
        client: Mapping[str, Any],
        topic: str,
        partitions: int,
        decode: Callable[[bytes], Awaitable[Mapping[str, Any]]],
    ) -> None:
        self.client = client  # aiokafka connection and security (streams.kafka.clients)
        self.topic = topic
        self.partitions = partitions
        self.decode = decode
        self.hubs: dict[str, Hub] = {}
        self.caught_up_at: float | None = None  # monotonic time the view last reached the end
        self.ready = asyncio.Event()

    def __getitem__(self, code: str) -> Hub:
        return self.hubs[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self.hubs)

    def __len__(self) -> int:
        return len(self.hubs)

    def age_s(self) -> float:
        """Seconds since the view was last known to hold everything in the topic."""
        if self.caught_up_at is None:
            return float("inf")
        return time.monotonic() - self.caught_up_at

    async def wait_ready(self) -> None:
        """Return once the topic was read to its end at least once."""
        await self.ready.wait()

    async def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the topic: a hub, or a tombstone that removes one."""
        code = (key or b"").decode(errors="replace")
        if value is None:
            if self.hubs.pop(code, None) is not None:
                log.info("hub %s removed from the network", code)
            return
        try:
            hub = Hub.from_avro(await self.decode(value))
        except Exception:  # a bad reference record must not stop the worker
            log.exception("reference.hubs record for %r cannot be read; keeping the old one", code)
            return
        if self.hubs.get(hub.code) != hub:
            log.info("hub %s %s", hub.code, "updated" if hub.code in self.hubs else "added")
        self.hubs[hub.code] = hub

    async def run(self) -> None:
        """Follow the topic for the life of the worker; reconnects after any failure."""
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001  # the broker may be down: retry
                log.warning("hub network: %r; reading reference.hubs again in %.0fs", exc, RETRY_S)
                await asyncio.sleep(RETRY_S)

    async def _follow(self) -> None:
        tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
        consumer = AIOKafkaConsumer(**self.client, enable_auto_commit=False, group_id=None)
        await consumer.start()
        try:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while True:
                batch = await consumer.getmany(*tps, timeout_ms=POLL_MS)
                for records in batch.values():
                    for record in records:
                        await self.apply(record.key, record.value)
                if await self._caught_up(consumer, tps, ends):
                    self.caught_up_at = time.monotonic()
                    if not self.ready.is_set():
                        log.info("hub network loaded: %d hubs", len(self.hubs))
                        self.ready.set()
        finally:
            await consumer.stop()

    @staticmethod
    async def _caught_up(
        consumer: AIOKafkaConsumer, tps: list[TopicPartition], ends: dict[TopicPartition, int]
    ) -> bool:
        for tp in tps:
            position = await consumer.position(tp)
            high = consumer.highwater(tp)
            if position < max(ends[tp], high or 0):
                return False
        return True


def network(pipeline: Pipeline) -> HubNetwork:
    """The worker's hub network: made once per app, followed by a task of the app."""
    if pipeline.hub_network is None:
        spec = cat.HUBS
        net = HubNetwork(
            aiokafka_config(pipeline.settings),
            pipeline.settings.topic(spec.name),
            cat.partitions_of(spec, pipeline.settings),
            functools.partial(_decode, pipeline.serde(spec, in_loop=True)),
        )
        pipeline.app.task(net.run)
        pipeline.metrics.reference_age.set_function(net.age_s)
        pipeline.metrics.reference_hubs.set_function(lambda: len(net))
        pipeline.hub_network = net
    return pipeline.hub_network


async def _decode(serde: AvroSerde, value: bytes) -> Mapping[str, Any]:
    """A hub record, its schema loaded off the loop; waits while the registry is unreachable.

    Skipping the record instead would keep a stale hub until the hub is published again.
    """
    return await decode_off_loop(serde, lambda: serde.decode(value), RETRY_S)
