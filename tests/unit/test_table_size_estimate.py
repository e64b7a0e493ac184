"""The table-size gauge reads each store's own estimate instead of iterating its keys."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from rocksdict import Rdict

from streams.worker_metrics import estimated_keys


def rocksdb_table(dbs: list[Rdict]) -> Any:
    """A table whose store serves ``dbs`` as its active partitions (faust's RocksDB store)."""
    return SimpleNamespace(data=SimpleNamespace(_dbs_for_actives=lambda: iter(dbs)))


def test_rocksdb_stores_are_sized_by_their_estimate_summed_over_active_partitions(
    tmp_path: Path,
) -> None:
    dbs = [Rdict(str(tmp_path / f"p{i}.db")) for i in range(2)]
    try:
        for i in range(300):
            dbs[0][f"a{i}".encode()] = b"v"
        for i in range(200):
            dbs[1][f"b{i}".encode()] = b"v"
        assert estimated_keys(rocksdb_table(dbs)) == 500
        assert estimated_keys(rocksdb_table(dbs[1:])) == 200  # a partition served elsewhere
    finally:
        for db in dbs:
            db.close()


def test_a_store_without_rocksdb_partitions_is_sized_by_its_length() -> None:
    table = SimpleNamespace(data={"k1": 1, "k2": 2, "k3": 3})
    assert estimated_keys(table) == 3
