"""The messages an agent batch sends to an internal topic, one record per partition.

Roles hand updates to each other through ``shipments.updates`` and ``shipments.hub-arrivals``.
A record per update made every hop cost one produce, one fetch and one pass through faust's
stream machinery per event, most of a worker's CPU. An agent now collects what a batch of its
input produces and sends each destination partition one record (chunked so a record stays
well below Kafka's message size limit), in the order the messages were added.
"""

from __future__ import annotations

from faust.types import TopicT

from streams import messages

#: Messages per record at most (~0.5 KB each: records stay far below Kafka's 1 MB default).
CHUNK = 200


class Outbox:
    """Messages for one topic, by partition, until :meth:`send`."""

    def __init__(self, topic: TopicT, chunk: int = CHUNK) -> None:
        self.topic = topic
        self.chunk = chunk
        self.by_partition: dict[int, list[messages.Message]] = {}

    def add(self, partition: int, message: messages.Message) -> None:
        """Queue ``message`` for ``partition``."""
        self.by_partition.setdefault(partition, []).append(message)

    async def send(self) -> int:
        """Send what was queued (one record per partition and chunk); returns records sent."""
        by_partition, self.by_partition = self.by_partition, {}
        records = 0
        for partition, queued in by_partition.items():
            for i in range(0, len(queued), self.chunk):
                value = messages.encode_batch(queued[i : i + self.chunk])
                await self.topic.send(value=value, partition=partition)
                records += 1
        return records
