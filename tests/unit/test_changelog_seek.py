"""Recovery never seeks a changelog to a negative offset (aiokafka would raise)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from faust.tables.recovery import Recovery
from faust.types import TP

from streams.patches import changelog_seek

A = TP("app-shipments-changelog", 0)
B = TP("app-shipments-changelog", 1)
C = TP("app-shipments-changelog", 2)


class FakeConsumer:
    def __init__(self) -> None:
        self.seeks: list[dict[Any, int]] = []

    async def seek_wait(self, partitions: dict[Any, int]) -> None:
        for offset in partitions.values():
            if offset < 0:
                msg = "Offset must be a positive integer"  # what aiokafka raises
                raise ValueError(msg)
        self.seeks.append(dict(partitions))


def test_sanitize_leaves_real_offsets_alone() -> None:
    offsets: Counter[Any] = Counter({A: -2, B: -1, C: 41})
    assert changelog_seek.sanitize(offsets, {A, B, C}) == [A]
    assert offsets == Counter({A: -1, B: -1, C: 41})


def test_recovery_seeks_a_negative_offset_as_the_start() -> None:
    changelog_seek.install()
    consumer = FakeConsumer()
    offsets: Counter[Any] = Counter({A: -2, B: 7})
    seek = Recovery._seek_offsets  # the patched method under test
    asyncio.run(seek(object(), consumer, {A, B}, offsets, "standby"))  # type: ignore[arg-type]
    assert consumer.seeks == [{A: 0, B: 7}]
