from __future__ import annotations

import pytest

from streams.kafka.partitioner import murmur2, partition_for


def test_matches_kafka_java_reference_values() -> None:
    # Values from Kafka's UtilsTest.testMurmur2 (Java ints shown as unsigned here).
    assert murmur2(b"21") & 0xFFFFFFFF == (-973932308) & 0xFFFFFFFF
    assert murmur2(b"foobar") & 0xFFFFFFFF == (-790332482) & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-long-string") & 0xFFFFFFFF == (-985981536) & 0xFFFFFFFF


def test_partition_is_stable_and_in_range() -> None:
    parts = {partition_for(f"SHP-{i}", 12) for i in range(500)}
    assert parts == set(range(12))
    assert partition_for("SHP-1", 12) == partition_for(b"SHP-1", 12)


# Partitions Kafka's Java client computes, ``Utils.toPositive(Utils.murmur2(utf8(key))) % n``,
# printed with kafka-clients 4.1.1: (key, Java's signed murmur2, partition of 12, of 7).
JAVA = [
    ("SHP-1", 1842986962, 10, 5),
    ("SHP-2", -1870854546, 2, 1),
    ("SHP-42", -89424667, 1, 6),
    ("SHP-000123", -161584450, 10, 3),
    ("shipment-7f3a", 717882143, 11, 6),
    ("HUB-AMS", -229493949, 11, 3),
    ("", 275646681, 9, 2),
    ("ü-ключ", -1668080129, 3, 0),
]


@pytest.mark.parametrize(("key", "java_hash", "of_12", "of_7"), JAVA)
def test_partitions_are_the_java_clients(key: str, java_hash: int, of_12: int, of_7: int) -> None:
    assert murmur2(key.encode()) == java_hash & 0xFFFFFFFF
    assert partition_for(key, 12) == of_12
    assert partition_for(key, 7) == of_7
