"""SentDecisions: one read per partition and assignment, and a safe fallback."""

from __future__ import annotations

import asyncio

from streams.agents.decision.sent import MARGIN_MS, SentDecisions


def test_reads_each_partition_once_per_assignment_from_before_the_first_record() -> None:
    calls: list[tuple[int, int]] = []

    async def load(partition: int, since_ms: int) -> set[str]:
        calls.append((partition, since_ms))
        return {f"p{partition}-a"}

    sent = SentDecisions(load)

    async def run() -> None:
        await sent.prepare(3, 1_000_000)
        await sent.prepare(3, 2_000_000)  # same assignment: not read again
        await sent.prepare(4, 1_500_000)

    asyncio.run(run())
    assert calls == [(3, 1_000_000 - MARGIN_MS), (4, 1_500_000 - MARGIN_MS)]
    assert sent.already_sent(3, "p3-a")
    assert not sent.already_sent(3, "p4-a")
    sent.reset()
    assert not sent.already_sent(3, "p3-a")
    asyncio.run(sent.prepare(3, 5_000_000))
    assert calls[-1] == (3, 5_000_000 - MARGIN_MS)


def test_a_failed_read_falls_back_to_sending() -> None:
    async def load(partition: int, since_ms: int) -> set[str]:
        msg = "broker gone"
        raise ConnectionError(msg)

    sent = SentDecisions(load)
    asyncio.run(sent.prepare(0, 1_000))
    assert not sent.already_sent(0, "anything")
