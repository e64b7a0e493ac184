"""Records sent one at a time by many tasks, acknowledged together.

The communication role finishes deliveries in many concurrent tasks, each with one
``shipments.actions`` record to write before its decision may be acked. Sent through faust's
producer, every record took faust's and aiokafka's per-record path in the event loop (about a
tenth of that role's CPU, py-spy). Here each task hands its record over and awaits it; one
writer task sends whatever has gathered through the worker's librdkafka producer as one
:class:`~streams.kafka.deliveries.Deliveries`, waits until the broker has acknowledged all of
it, and then releases the tasks. A record the broker refused (after librdkafka's own retries)
is sent again after ``retry_s`` (:meth:`Deliveries.acknowledged`): the tasks of that round wait,
so their inputs are not acked meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from confluent_kafka import Producer

from streams.kafka.deliveries import RETRY_S, Deliveries
from streams.kafka.partitioner import partition_for

log = logging.getLogger(__name__)


class SharedSends:
    """One topic's records from many tasks, each awaited until the broker has it."""

    def __init__(
        self,
        topic: str,
        partitions: int,
        producer: Callable[[], Producer],
        retry_s: float = RETRY_S,
    ) -> None:
        self.topic = topic
        self.partitions = partitions
        self.producer = producer
        self.retry_s = retry_s
        self._queue: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    async def send(self, key: str, value: bytes) -> None:
        """Returns once the broker has acknowledged the record (``key`` picks the partition)."""
        done = asyncio.get_running_loop().create_future()
        self._queue.append((key, value, done))
        self._wake.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await done

    async def _write(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            queued, self._queue = self._queue, []
            try:
                deliveries = Deliveries(self.producer())
                self._produce(deliveries, queued)
                await deliveries.acknowledged(
                    functools.partial(self._produce, deliveries),
                    f"record(s) for {self.topic}",
                    self.retry_s,
                )
            except Exception as exc:  # a bug must not leave the senders waiting forever
                log.exception("sending records to %s failed", self.topic)
                for _, _, done in queued:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, _, done in queued:
                if not done.done():
                    done.set_result(None)

    def _produce(
        self, deliveries: Deliveries, items: list[tuple[str, bytes, asyncio.Future[None]]]
    ) -> None:
        for item in items:
            key, value, _ = item
            partition = partition_for(key, self.partitions)
            deliveries.produce(self.topic, value, key=key, partition=partition, ref=item)
