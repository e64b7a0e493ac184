"""Deliveries.acknowledged and SharedSends with a fake librdkafka producer: nothing is given up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import KafkaError

from streams.kafka.deliveries import Deliveries
from streams.kafka.partitioner import partition_for
from streams.kafka.shared_sends import SharedSends


@dataclass
class Msg:
    _topic: str
    _partition: int
    _offset: int

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


@dataclass
class FakeProducer:
    """Acknowledges on flush; refuses the values listed in ``refuse`` once each."""

    refuse: set[bytes] = field(default_factory=set)
    fail: bool = False
    sent: list[tuple[str, bytes, str, int]] = field(default_factory=list)
    pending: list[tuple[bytes, Msg, Callable[..., None]]] = field(default_factory=list)
    flushes: int = 0

    def produce(self, topic: str, value: bytes, key: Any, **kw: Any) -> None:
        if self.fail:
            broken = "producer broken"
            raise RuntimeError(broken)
        self.sent.append((topic, value, key, kw["partition"]))
        msg = Msg(topic, kw["partition"], len(self.sent))
        self.pending.append((value, msg, kw["on_delivery"]))

    def flush(self, _timeout: float) -> int:
        self.flushes += 1
        pending, self.pending = self.pending, []
        for value, msg, report in pending:
            if value in self.refuse:
                self.refuse.discard(value)
                report(KafkaError(KafkaError._MSG_TIMED_OUT), msg)
            else:
                report(None, msg)
        return 0


async def test_senders_wait_for_their_acks_and_share_one_flush() -> None:
    producer = FakeProducer()
    sends = SharedSends("actions", 12, lambda: producer)
    await asyncio.gather(*(sends.send(f"SHP-{i}", b"v%d" % i) for i in range(50)))
    assert len(producer.sent) == 50 and not producer.pending  # all acknowledged
    assert producer.flushes < 50  # gathered: far fewer round trips than records
    topic, value, key, partition = producer.sent[7]
    assert (topic, key, partition) == ("actions", "SHP-7", partition_for("SHP-7", 12))
    assert value == b"v7"


async def test_a_refused_record_is_sent_again_and_its_sender_waits_for_it() -> None:
    producer = FakeProducer(refuse={b"b"})
    sends = SharedSends("actions", 12, lambda: producer, retry_s=0.01)
    await asyncio.gather(sends.send("k1", b"a"), sends.send("k2", b"b"))
    assert [v for _, v, _, _ in producer.sent].count(b"b") == 2
    assert [v for _, v, _, _ in producer.sent].count(b"a") == 1


async def test_a_broken_producer_fails_the_senders_instead_of_leaving_them_waiting() -> None:
    producer = FakeProducer(fail=True)
    sends = SharedSends("actions", 12, lambda: producer)
    with pytest.raises(RuntimeError, match="producer broken"):
        await asyncio.wait_for(sends.send("k", b"v"), 5)
    producer.fail = False  # the next send starts a new writer
    await asyncio.wait_for(sends.send("k", b"v"), 5)
    assert producer.sent == [("actions", b"v", "k", partition_for("k", 12))]


async def test_deliveries_hand_the_refused_refs_over_until_all_are_acknowledged() -> None:
    producer = FakeProducer(refuse={b"b"})
    deliveries = Deliveries(producer)  # type: ignore[arg-type]
    handed: list[list[Any]] = []

    def resend(refused: list[Any]) -> None:
        handed.append(refused)
        for ref in refused:
            deliveries.produce("decisions", ref.encode(), key=ref, partition=0, ref=ref)

    for value in ("a", "b", "c"):
        deliveries.produce("decisions", value.encode(), key=value, partition=0, ref=value)
    await deliveries.acknowledged(resend, "decisions", retry_s=0.01)
    assert handed == [["b"]]  # only the refused one, once
    assert deliveries.error is None and not deliveries.refused
    assert [v for _, v, _, _ in producer.sent] == [b"a", b"b", b"c", b"b"]
