"""The messages an agent batch sends to an internal topic, one record per partition.

Roles hand updates to each other through ``shipments.updates`` and ``shipments.hub-arrivals``.
A record per update made every hop cost one produce, one fetch and one pass through faust's
stream machinery per event, most of a worker's CPU. An agent now collects what a batch of its
input produces and sends each destination partition one record (chunked so a record stays
well below Kafka's message size limit), in the order the messages were added, through the
worker's librdkafka producer (``streams.kafka.deliveries``).
"""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import Producer

from streams import messages
from streams.kafka.deliveries import Deliveries

#: Messages per record at most (~0.5 KB each: records stay far below Kafka's 1 MB default).
CHUNK = 200


class Outbox:
    """Messages for one topic, by partition, until :meth:`send`."""

    def __init__(self, topic: str, producer: Callable[[], Producer], chunk: int = CHUNK) -> None:
        self.topic = topic
        self.producer = producer
        self.chunk = chunk
        self.by_partition: dict[int, list[messages.Message]] = {}

    def add(self, partition: int, message: messages.Message) -> None:
        """Queue ``message`` for ``partition``."""
        self.by_partition.setdefault(partition, []).append(message)

    async def send(self, deliveries: Deliveries | None = None) -> int:
        """Send what was queued (one record per partition and chunk); returns records sent.

        Returns once the broker has them, or, given the batch's ``deliveries``, once they are
        sent (the caller's ``deliveries.wait()`` then waits for them with the rest).
        """
        by_partition, self.by_partition = self.by_partition, {}
        own = deliveries is None
        deliveries = deliveries or Deliveries(self.producer())
        records = 0
        for partition, queued in by_partition.items():
            for i in range(0, len(queued), self.chunk):
                value = messages.encode_batch(queued[i : i + self.chunk])
                deliveries.produce(self.topic, value, partition=partition)
                records += 1
        if own:
            await deliveries.wait()
        return records
