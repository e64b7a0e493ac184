"""SentDecisions and its Kafka reader: one read per assignment and batch, one consumer kept."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from streams.agents.decision import sent as sent_module
from streams.agents.decision.sent import MARGIN_MS, KafkaLoader, SentDecisions
from streams.settings import Settings


def test_reads_each_partition_once_per_assignment_from_before_its_first_record() -> None:
    calls: list[dict[int, int]] = []

    async def load(since_ms: Mapping[int, int]) -> dict[int, set[str]]:
        calls.append(dict(since_ms))
        return {p: {f"p{p}-a"} for p in since_ms}

    sent = SentDecisions(load)

    async def run() -> None:
        await sent.prepare({3: 1_000_000, 5: 1_200_000})  # one read for both
        await sent.prepare({3: 2_000_000})  # same assignment: not read again
        await sent.prepare({3: 2_000_000, 4: 1_500_000})  # only the new one

    asyncio.run(run())
    assert calls == [
        {3: 1_000_000 - MARGIN_MS, 5: 1_200_000 - MARGIN_MS},
        {4: 1_500_000 - MARGIN_MS},
    ]
    assert sent.already_sent(3, "p3-a")
    assert sent.already_sent(5, "p5-a")
    assert not sent.already_sent(3, "p4-a")
    sent.reset()
    assert not sent.already_sent(3, "p3-a")
    asyncio.run(sent.prepare({3: 5_000_000}))
    assert calls[-1] == {3: 5_000_000 - MARGIN_MS}


def test_a_partition_the_read_did_not_answer_has_no_ids_and_is_not_read_again() -> None:
    calls: list[dict[int, int]] = []

    async def load(since_ms: Mapping[int, int]) -> dict[int, set[str]]:
        calls.append(dict(since_ms))
        return {1: {"x"}}

    sent = SentDecisions(load)
    asyncio.run(sent.prepare({1: 100_000, 2: 100_000}))
    asyncio.run(sent.prepare({2: 200_000}))
    assert len(calls) == 1
    assert sent.already_sent(1, "x")
    assert not sent.already_sent(2, "x")


def test_a_failed_read_falls_back_to_sending() -> None:
    async def load(since_ms: Mapping[int, int]) -> dict[int, set[str]]:
        msg = "broker gone"
        raise ConnectionError(msg)

    sent = SentDecisions(load)
    asyncio.run(sent.prepare({0: 1_000, 1: 2_000}))
    assert not sent.already_sent(0, "anything")
    assert not sent.already_sent(1, "anything")


class FakeConsumer:
    """Stands for aiokafka's consumer: ``fail_start`` / ``fail_read`` times, then empty reads."""

    made: ClassVar[list[FakeConsumer]] = []
    fail_start = 0
    fail_read = 0

    def __init__(self, **_config: object) -> None:
        self.started = self.stopped = False
        self.assigned: list[Any] = []
        FakeConsumer.made.append(self)

    async def start(self) -> None:
        if FakeConsumer.fail_start:
            FakeConsumer.fail_start -= 1
            raise ConnectionError("broker down")  # noqa: EM101
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    def assign(self, tps: list[Any]) -> None:
        self.assigned = tps

    def assignment(self) -> set[Any]:
        return set(self.assigned)

    def pause(self, *_tps: Any) -> None:
        pass

    async def end_offsets(self, tps: list[Any]) -> dict[Any, int]:
        if FakeConsumer.fail_read:
            FakeConsumer.fail_read -= 1
            raise ConnectionError("lost the connection")  # noqa: EM101
        return dict.fromkeys(tps, 0)

    async def offsets_for_times(self, tps: Mapping[Any, int]) -> dict[Any, None]:
        return dict.fromkeys(tps)


def test_kafka_loader_replaces_a_consumer_that_failed_to_start_or_to_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sent_module, "AIOKafkaConsumer", FakeConsumer)
    FakeConsumer.made.clear()
    FakeConsumer.fail_start, FakeConsumer.fail_read = 1, 1
    load = KafkaLoader(Settings(), "shipments.decisions", lambda _raw: {})

    async def run() -> list[object]:
        outcomes: list[object] = []
        for _ in range(4):
            try:
                outcomes.append(await load({0: 0, 1: 0}))
            except ConnectionError as exc:
                outcomes.append(str(exc))
        return outcomes

    outcomes = asyncio.run(run())
    assert outcomes == [
        "broker down",
        "lost the connection",
        {0: set(), 1: set()},
        {0: set(), 1: set()},
    ]
    first, second, third = FakeConsumer.made  # the last two loads share the third
    assert first.stopped and not first.started  # half made: closed
    assert second.started and second.stopped  # failed a read: closed, not used again
    assert third.started and not third.stopped
