"""tables.writeback: a batch's writes reach the table once per key, from their partition."""

from __future__ import annotations

from typing import Any

import pytest

from tables.writeback import WriteBack


def test_reads_see_the_batch_own_writes_and_the_table_sees_none_until_taken() -> None:
    table: dict[str, Any] = {"a": 1, "b": 2}
    wb: WriteBack[str, Any] = WriteBack(table)
    wb.at(3)
    wb["a"] = 10
    wb["a"] = 11  # the last value of the batch is the one written
    wb["c"] = 30
    del wb["b"]
    assert (wb["a"], wb.get("b"), wb.get("c"), "b" in wb, "c" in wb) == (11, None, 30, False, True)
    with pytest.raises(KeyError):
        wb["b"]
    assert sorted(wb) == ["a", "c"] and len(wb) == 2 and dict(wb.items()) == {"a": 11, "c": 30}
    assert table == {"a": 1, "b": 2}
    assert wb.take() == {3: [("a", 11), ("c", 30), ("b", None)]}
    assert wb.take() == {} and wb["b"] == 2  # handed over once; reads go to the table again


def test_each_write_keeps_the_partition_it_was_made_in() -> None:
    wb: WriteBack[str, int] = WriteBack({})
    wb.at(0)
    wb["x"] = 1
    wb.at(5)
    wb["y"] = 2
    wb["x"] = 3  # written again from another partition: the last one wins
    assert wb.take() == {5: [("x", 3), ("y", 2)]}


def test_deleting_a_missing_key_raises_like_a_mapping_and_pop_defaults() -> None:
    wb: WriteBack[str, int] = WriteBack({})
    with pytest.raises(KeyError):
        del wb["nope"]
    assert wb.pop("nope", None) is None
    wb["k"] = 1
    assert wb.pop("k") == 1 and "k" not in wb
    assert wb.take() == {0: [("k", None)]}


def test_with_a_partition_reader_keys_are_read_in_the_current_partition() -> None:
    stores = {0: {"a": 1}, 1: {"b": 2}}
    table = {**stores[0], **stores[1]}  # what the table's own iteration sees
    wb: WriteBack[str, int] = WriteBack(table, lambda p, k: stores[p].get(k))
    wb.at(0)
    assert (wb.get("a"), wb.get("b"), "b" in wb) == (1, None, False)
    wb.at(1)
    assert (wb.get("b"), wb["b"]) == (2, 2)
    with pytest.raises(KeyError):
        wb["a"]
    wb["c"] = 3
    # items() takes each value from the table, whatever the current partition
    assert dict(wb.items()) == {"a": 1, "b": 2, "c": 3}


def test_bytes_keys_of_a_faust_table_are_matched_with_pending_text_keys() -> None:
    wb: WriteBack[str, int] = WriteBack({b"a": 1, b"b": 2})  # type: ignore[dict-item]
    wb["a"] = 10
    assert dict(wb.items()) == {"b": 2, "a": 10}
