"""A write-back overlay on a table: a batch's writes reach the table once per key, at its end.

Every write to a faust table is a changelog record (produced, acknowledged, its offset then
written to RocksDB). The agents read their input in batches, and within a batch a shipment or
a hub window often changes several times; only its last value matters to the changelog and to
whoever restores it. So the agents read and write through a :class:`WriteBack`, and hand the
writes over once the batch is done (``take``), grouped by the partition each was made in
(``streams.patches.table_io`` writes them to that partition's store and changelog).

Reads see the batch's own writes first. Nothing here knows faust: unit tests use a dict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_DELETED: Any = object()


class WriteBack(MutableMapping[K, V], Generic[K, V]):
    """Reads through to ``table``; writes wait in :attr:`pending` until :meth:`take`."""

    def __init__(
        self, table: MutableMapping[K, V], read: Callable[[int, K], V | None] | None = None
    ) -> None:
        """``read(partition, key)`` reads a key in the current partition, if given.

        Faster than ``table.get`` on a faust table; ``table`` serves everything else.
        """
        self.table = table
        self.read = read
        #: key -> (partition it was written from, value or _DELETED)
        self.pending: dict[K, tuple[int, Any]] = {}
        self.partition = 0

    def at(self, partition: int) -> None:
        """Writes from now on belong to ``partition`` (that of the record being handled)."""
        self.partition = partition

    def __getitem__(self, key: K) -> V:
        hit = self.pending.get(key)
        if hit is None:
            if self.read is not None:
                value = self.read(self.partition, key)
                if value is None:
                    raise KeyError(key)
                return value
            return self.table[key]
        if hit[1] is _DELETED:
            raise KeyError(key)
        return hit[1]  # type: ignore[no-any-return]

    def get(self, key: K, default: Any = None) -> Any:
        """The value (pending first), without an exception on a miss (the hot path)."""
        hit = self.pending.get(key)
        if hit is None:
            if self.read is not None:
                value = self.read(self.partition, key)
                return default if value is None else value
            return self.table.get(key, default)
        return default if hit[1] is _DELETED else hit[1]

    def __setitem__(self, key: K, value: V) -> None:
        self.pending[key] = (self.partition, value)

    def __delitem__(self, key: K) -> None:
        if key not in self:
            raise KeyError(key)
        self.pending[key] = (self.partition, _DELETED)

    def __contains__(self, key: object) -> bool:
        hit = self.pending.get(key)  # type: ignore[arg-type]
        if hit is None:
            if self.read is not None:
                return self.read(self.partition, key) is not None  # type: ignore[arg-type]
            return key in self.table
        return hit[1] is not _DELETED

    def __iter__(self) -> Iterator[K]:
        for key, _ in self.items():
            yield key

    def items(self) -> Iterator[tuple[K, V]]:  # type: ignore[override]
        """Every key and value, each partition's from its own store (not the current one).

        A faust table with ``key_type=bytes`` yields its keys as bytes; they are compared with
        the pending keys (text) decoded.
        """
        for key, value in self.table.items():
            text: Any = key.decode() if isinstance(key, bytes) else key
            if text not in self.pending:
                yield text, value
        for key, (_, value) in self.pending.items():
            if value is not _DELETED:
                yield key, value

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def take(self) -> dict[int, list[tuple[K, V | None]]]:
        """The pending writes by partition (``None``: delete), handed over once."""
        out: dict[int, list[tuple[K, V | None]]] = {}
        for key, (partition, value) in self.pending.items():
            out.setdefault(partition, []).append((key, None if value is _DELETED else value))
        self.pending = {}
        return out
