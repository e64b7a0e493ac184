"""BatchSource with a fake consumer: batching, acks into faust's bookkeeping, back-pressure.

The fetcher loop that feeds it needs a broker; tests/integration (pipeline, order, chaos) run
it for real.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any
from weakref import WeakSet

import pytest
from faust.types import TP

from streams.patches import batch_delivery
from streams.patches.batch_delivery import BatchSource


class FakeConsumer:
    def __init__(self) -> None:
        self._unacked_messages: WeakSet[Any] = WeakSet()
        self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._acked_index: defaultdict[TP, set[int]] = defaultdict(set)
        self._acked: defaultdict[TP, list[int]] = defaultdict(list)
        self._n_acked = 0
        self._waiting_for_ack = None
        self.full: list[TP] = []
        self.dropped: list[TP] = []
        self._paused_partitions: set[TP] = set()
        self._buffered_partitions: set[TP] = set()

    def on_buffer_full(self, tp: TP) -> None:
        self.full.append(tp)
        self._buffered_partitions.add(tp)

    def on_buffer_drop(self, tp: TP) -> None:
        self.dropped.append(tp)
        self._buffered_partitions.discard(tp)


class FakeFlowControl:
    def __init__(self) -> None:
        self.queues: list[Any] = []

    def manage_queue(self, queue: Any) -> None:
        self.queues.append(queue)

    def clear(self) -> None:
        for q in self.queues:
            q.clear()

    def is_active(self) -> bool:
        return True


def fake_app() -> Any:
    return SimpleNamespace(
        consumer=FakeConsumer(),
        flow_control=FakeFlowControl(),
        monitor=SimpleNamespace(stream_inbound_time={}),
    )


def rec(partition: int, offset: int, topic: str = "t") -> Any:
    return SimpleNamespace(topic=topic, partition=partition, offset=offset)


TP0, TP1 = TP("t", 0), TP("t", 1)


def test_a_batch_holds_what_is_buffered_up_to_the_maximum_in_arrival_order() -> None:
    app = fake_app()
    source = BatchSource(app, "t", max_records=3, within_s=0.0)
    source.deliver(app.consumer, [(TP0, [rec(0, 5), rec(0, 6)])])
    source.deliver(app.consumer, [(TP1, [rec(1, 1), rec(1, 2)])])
    first = asyncio.run(source.take())
    assert [(r.partition, r.offset) for r in first.records] == [(0, 5), (0, 6), (1, 1)]
    second = asyncio.run(source.take())
    assert [(r.partition, r.offset) for r in second.records] == [(1, 2)]


def test_the_partitions_of_one_fetch_are_interleaved_each_in_offset_order() -> None:
    app = fake_app()
    source = BatchSource(app, "t", max_records=10, within_s=0.0)
    source.deliver(
        app.consumer, [(TP0, [rec(0, 1), rec(0, 2), rec(0, 3)]), (TP1, [rec(1, 7), rec(1, 8)])]
    )
    batch = asyncio.run(source.take())
    assert [(r.partition, r.offset) for r in batch.records] == [
        (0, 1), (1, 7), (0, 2), (1, 8), (0, 3),
    ]  # fmt: skip


def test_a_taken_batch_keeps_the_rebalance_waiting_until_it_is_done() -> None:
    app = fake_app()
    source = BatchSource(app, "t", max_records=10, within_s=0.0)
    source.deliver(app.consumer, [(TP0, [rec(0, 1), rec(0, 2)])])
    batch = asyncio.run(source.take())
    assert len(app.consumer._unacked_messages) == 1  # what wait_empty waits on
    source.done(batch, ack=True)
    assert len(app.consumer._unacked_messages) == 0
    assert app.consumer._acked[TP0] == [1, 2] and app.consumer._n_acked == 2
    assert TP0 in app.monitor.stream_inbound_time


def test_a_failed_batch_is_released_but_not_acked() -> None:
    app = fake_app()
    source = BatchSource(app, "t", max_records=10, within_s=0.0)
    source.deliver(app.consumer, [(TP0, [rec(0, 1)])])

    async def boom(_records: Any) -> None:
        msg = "bug"
        raise RuntimeError(msg)

    with pytest.raises(RuntimeError):
        asyncio.run(source.run(boom))
    assert len(app.consumer._unacked_messages) == 0 and app.consumer._acked[TP0] == []


def test_offsets_below_the_committed_offset_or_already_acked_are_not_acked_again() -> None:
    app = fake_app()
    app.consumer._committed_offset[TP0] = 5
    app.consumer._acked_index[TP0].add(6)
    app.consumer._acked[TP0].append(6)
    source = BatchSource(app, "t", max_records=10, within_s=0.0)
    source.deliver(app.consumer, [(TP0, [rec(0, 4), rec(0, 5), rec(0, 6), rec(0, 7)])])
    source.done(asyncio.run(source.take()), ack=True)
    assert app.consumer._acked[TP0] == [6, 5, 7]


def test_a_rebalance_clears_what_was_not_taken() -> None:
    app = fake_app()
    source = BatchSource(app, "t", max_records=10, within_s=0.0)
    source.deliver(app.consumer, [(TP0, [rec(0, 1)])])
    app.flow_control.clear()

    async def nothing_arrives() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(source.take(), 0.05)

    asyncio.run(nothing_arrives())


def test_a_partition_stops_being_fetched_past_the_high_water_and_resumes_below_the_low(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batch_delivery, "HIGH_WATER", 4)
    monkeypatch.setattr(batch_delivery, "LOW_WATER", 2)
    app = fake_app()
    source = BatchSource(app, "t", max_records=3, within_s=0.0)
    source.deliver(app.consumer, [(TP0, [rec(0, n) for n in range(5)])])
    assert app.consumer.full == [TP0]
    asyncio.run(source.take())  # 2 left: not below the low water yet
    assert app.consumer.dropped == []
    asyncio.run(source.take())
    assert app.consumer.dropped == [TP0]


def test_a_partition_faust_paused_is_not_made_fetchable_when_the_buffer_is_cleared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batch_delivery, "HIGH_WATER", 4)
    app = fake_app()
    source = BatchSource(app, "t", max_records=3, within_s=0.0)
    source.deliver(app.consumer, [(TP0, [rec(0, n) for n in range(5)])])
    assert app.consumer.full == [TP0]
    app.consumer._paused_partitions.add(TP0)  # a rebalance: faust pauses, then clears
    app.flow_control.clear()
    assert app.consumer.dropped == []  # faust resumes it after its seek, not the buffer
    assert TP0 not in app.consumer._buffered_partitions


def test_take_waits_within_for_a_fuller_batch() -> None:
    app = fake_app()
    source = BatchSource(app, "t", max_records=3, within_s=0.5)

    async def scenario() -> list[int]:
        source.deliver(app.consumer, [(TP0, [rec(0, 1)])])
        taking = asyncio.ensure_future(source.take())
        await asyncio.sleep(0.01)
        source.deliver(app.consumer, [(TP0, [rec(0, 2), rec(0, 3)])])
        batch = await taking
        return [r.offset for r in batch.records]

    assert asyncio.run(scenario()) == [1, 2, 3]
