from __future__ import annotations

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
