"""TableIO with a real RocksDB and a fake librdkafka producer: writes, the decoded cache.

The broker side (changelog records, recovery from them) runs in tests/integration
(pipeline, order and hubs, chaos).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
import rocksdict

from streams.patches.table_io import ChangelogWriteError, Codec, TableIO

TOPIC = "app-t-changelog"


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._t, self._p, self._o = topic, partition, offset

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o


class FakeProducer:
    """Acknowledges every record at flush, numbering offsets per partition (or refuses all)."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.sent: list[tuple[str, int, bytes, bytes | None]] = []
        self._pending: list[tuple[Any, FakeMessage]] = []
        self._next: dict[int, int] = {}

    def produce(self, topic: str, value: bytes | None, key: bytes, *, partition: int,
                headers: Any = None, on_delivery: Any) -> None:  # fmt: skip
        self.sent.append((topic, partition, key, value))
        offset = self._next.get(partition, 0)
        self._next[partition] = offset + 1
        self._pending.append((on_delivery, FakeMessage(topic, partition, offset)))

    def flush(self, _timeout: float) -> int:
        pending, self._pending = self._pending, []
        for report, msg in pending:
            report("refused" if self.refuse else None, msg)
        return 0

    def poll(self, _timeout: float) -> int:
        return 0


class FakeStore:
    def __init__(self, root: Path) -> None:
        self.dbs = {p: rocksdict.Rdict(str(root / str(p)), options=rocksdict.Options(raw_mode=True))
                    for p in (0, 1)}  # fmt: skip
        self.persisted: dict[Any, int] = {}

    def _db_for_partition(self, partition: int) -> Any:
        return self.dbs[partition]

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        self.persisted[(tp.topic, tp.partition)] = offset


def counting_json() -> tuple[Codec, list[str]]:
    decoded: list[str] = []

    def decode(key: str, raw: bytes) -> Any:
        decoded.append(key)
        return orjson.loads(raw)

    return Codec(orjson.dumps, decode), decoded


def table_io(tmp_path: Path, producer: FakeProducer, codec: Codec, cache_size: int = 100) -> Any:
    store = FakeStore(tmp_path)
    table = SimpleNamespace(
        data=store, changelog_topic=SimpleNamespace(get_topic_name=lambda: TOPIC)
    )
    io = TableIO(table, lambda: producer, codec, cache_size=cache_size)  # type: ignore[arg-type,return-value]
    return io, store


def test_written_values_are_in_the_store_the_changelog_and_read_back_without_decoding(
    tmp_path: Path,
) -> None:
    codec, decoded = counting_json()
    producer = FakeProducer()
    io, store = table_io(tmp_path, producer, codec)
    asyncio.run(io.write({0: [("a", {"n": 1})], 1: [("b", {"n": 2}), ("c", {"n": 3})]}))
    assert store.dbs[1][b"b"] == orjson.dumps({"n": 2})
    assert sorted((p, k, v) for _, p, k, v in producer.sent) == [
        (0, b"a", b'{"n":1}'), (1, b"b", b'{"n":2}'), (1, b"c", b'{"n":3}'),
    ]  # fmt: skip
    assert store.persisted == {(TOPIC, 0): 0, (TOPIC, 1): 1}
    assert io.read(1, "c") == {"n": 3} and decoded == []


def test_after_a_rebalance_values_are_read_from_the_store_again(tmp_path: Path) -> None:
    codec, decoded = counting_json()
    io, store = table_io(tmp_path, FakeProducer(), codec)
    asyncio.run(io.write({0: [("a", {"n": 1})]}))
    store.dbs[0][b"a"] = orjson.dumps({"n": 9})  # another owner wrote it meanwhile
    io.forget()
    assert io.read(0, "a") == {"n": 9} and decoded == ["a"]
    assert io.read(0, "a") == {"n": 9} and decoded == ["a"]  # kept decoded again
    assert io.read(0, "missing") is None


def test_a_deleted_key_reads_as_absent(tmp_path: Path) -> None:
    codec, _ = counting_json()
    io, store = table_io(tmp_path, FakeProducer(), codec)
    asyncio.run(io.write({0: [("a", {"n": 1})]}))
    asyncio.run(io.write({0: [("a", None)]}))
    assert io.read(0, "a") is None and store.dbs[0].get(b"a") is None
    io.forget()
    assert io.read(0, "a") is None


def test_the_cache_stays_within_its_size(tmp_path: Path) -> None:
    codec, decoded = counting_json()
    io, _ = table_io(tmp_path, FakeProducer(), codec, cache_size=4)
    asyncio.run(io.write({0: [(f"k{n}", {"n": n}) for n in range(10)]}))
    assert len(io._cache) <= 4
    assert [io.read(0, f"k{n}") for n in range(10)] == [{"n": n} for n in range(10)]
    assert decoded  # the oldest were read from RocksDB again


def test_a_refused_changelog_record_fails_the_write_and_persists_no_offset(
    tmp_path: Path,
) -> None:
    codec, _ = counting_json()
    io, store = table_io(tmp_path, FakeProducer(refuse=True), codec)
    with pytest.raises(ChangelogWriteError):
        asyncio.run(io.write({0: [("a", {"n": 1})]}))
    assert store.persisted == {}
