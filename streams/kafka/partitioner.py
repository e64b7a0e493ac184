"""A key's partition without a producer: aiokafka's Java-compatible murmur2.

Kafka's Java client, aiokafka's default partitioner (which faust's producer uses) and
confluent-kafka with ``partitioner=murmur2_random`` all map a key to
``toPositive(murmur2(key)) % partitions``; this asks aiokafka's own ``murmur2`` so the answer
is the producer's by construction.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2 as _murmur2


def murmur2(data: bytes) -> int:
    """The 32-bit murmur2 hash Kafka uses (as an unsigned int)."""
    return int(_murmur2(data))


def partition_for(key: str | bytes, partitions: int) -> int:
    """The partition of a key among ``partitions``."""
    data = key.encode() if isinstance(key, str) else key
    return (murmur2(data) & 0x7FFFFFFF) % partitions
