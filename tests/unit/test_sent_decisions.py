"""SentDecisions: one read per partition and assignment, the batch's partitions together."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from streams.agents.decision.sent import MARGIN_MS, SentDecisions


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
