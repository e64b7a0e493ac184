"""Lag arithmetic and the sampler's use of the admin API, with a fake admin client (no broker)."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from prometheus_client import CollectorRegistry

from streams.metrics import Metrics
from streams.monitoring.lag import (
    LagGaugeWriter,
    LagSampleError,
    LagSampler,
    PartitionLag,
    compute_lags,
    is_ignored_group,
)


def done(value: Any) -> Future[Any]:
    f: Future[Any] = Future()
    f.set_result(value)
    return f


def failed(exc: BaseException) -> Future[Any]:
    f: Future[Any] = Future()
    f.set_exception(exc)
    return f


@dataclass
class Ns:
    """Attribute bag standing in for confluent_kafka's result objects."""

    attrs: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        return self.attrs[name]


@dataclass
class FakeAdmin:
    """Just the AdminClient calls LagSampler makes, answered from dicts."""

    groups: list[str]
    committed: dict[str, dict[tuple[str, int], int]]
    assigned: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    partitions: dict[str, int] = field(default_factory=dict)
    low: dict[tuple[str, int], int] = field(default_factory=dict)
    high: dict[tuple[str, int], int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def list_consumer_groups(self, **_: Any) -> Future[Any]:
        self.calls.append("list_consumer_groups")
        return done(Ns({"valid": [Ns({"group_id": g}) for g in self.groups], "errors": []}))

    def list_consumer_group_offsets(
        self, req: list[ConsumerGroupTopicPartitions], **_: Any
    ) -> dict[str, Future[Any]]:
        assert len(req) == 1, "librdkafka takes one group per request"
        g = req[0].group_id
        self.calls.append(f"offsets:{g}")
        tps = [TopicPartition(t, p, o) for (t, p), o in self.committed.get(g, {}).items()]
        return {g: done(ConsumerGroupTopicPartitions(g, tps))}

    def describe_consumer_groups(self, groups: list[str], **_: Any) -> dict[str, Future[Any]]:
        out = {}
        for g in groups:
            tps = [TopicPartition(t, p) for t, p in self.assigned.get(g, [])]
            members = [Ns({"assignment": Ns({"topic_partitions": tps})})] if tps else []
            out[g] = done(Ns({"members": members}))
        return out

    def list_topics(self, **_: Any) -> Any:
        topics = {
            t: Ns({"error": None, "partitions": {p: None for p in range(n)}})
            for t, n in self.partitions.items()
        }
        return Ns({"topics": topics})

    def list_offsets(self, req: dict[TopicPartition, Any], **_: Any) -> dict[Any, Future[Any]]:
        spec = next(iter(req.values()))
        source = self.low if type(spec).__name__ == "EarliestSpec" else self.high
        return {tp: done(Ns({"offset": source.get((tp.topic, tp.partition), 0)})) for tp in req}


def test_lag_is_high_minus_committed() -> None:
    assert PartitionLag("g", "t", 0, committed=40, low=0, high=100).lag == 60


def test_partition_without_commit_counts_from_low_watermark() -> None:
    assert PartitionLag("g", "t", 0, committed=None, low=25, high=100).lag == 75


def test_commit_below_low_watermark_counts_from_low_watermark() -> None:
    # retention deleted records the group never read: the consumer resets to the low mark
    assert PartitionLag("g", "t", 0, committed=5, low=30, high=100).lag == 70


def test_lag_never_negative() -> None:
    assert PartitionLag("g", "t", 0, committed=110, low=0, high=100).lag == 0


def test_compute_lags_treats_invalid_offset_as_no_commit() -> None:
    lags = compute_lags("g", {("t", 0): -1001, ("t", 1): 7}, {("t", 1): (0, 10), ("t", 0): (3, 9)})
    assert [(x.partition, x.committed, x.lag) for x in lags] == [(0, None, 6), (1, 7, 3)]


def test_apicurio_groups_are_ignored() -> None:
    assert is_ignored_group("apicurio-0dba546a-01ab")
    assert not is_ignored_group("shipstream-processing")


def test_sampler_by_prefix_covers_committed_and_assigned_topics() -> None:
    admin = FakeAdmin(
        groups=["shipstream-processing", "apicurio-1234", "other"],
        committed={"shipstream-processing": {("ev", 0): 10}},
        # assigned but never committed: counts from its low watermark
        assigned={"shipstream-processing": [("arrivals", 0)]},
        partitions={"ev": 2, "arrivals": 1, "unrelated": 1},
        low={("ev", 1): 2, ("arrivals", 0): 1},
        high={("ev", 0): 15, ("ev", 1): 9, ("arrivals", 0): 4, ("unrelated", 0): 99},
    )
    sampler = LagSampler("unused:9092", group_prefix="shipstream-", admin=admin)  # type: ignore[arg-type]
    lags = {(s.topic, s.partition): s.lag for s in sampler.sample()}
    assert lags == {("arrivals", 0): 3, ("ev", 0): 5, ("ev", 1): 7}
    assert "offsets:apicurio-1234" not in admin.calls and "offsets:other" not in admin.calls


def test_sampler_with_explicit_groups_does_not_list_groups() -> None:
    admin = FakeAdmin(
        groups=[], committed={"g": {("t", 0): 1}}, partitions={"t": 1}, high={("t", 0): 4}
    )
    sampler = LagSampler("unused:9092", groups=["g", "apicurio-x"], admin=admin)  # type: ignore[arg-type]
    assert [s.lag for s in sampler.sample()] == [3]
    assert "list_consumer_groups" not in admin.calls


def test_sampler_needs_groups_or_prefix() -> None:
    with pytest.raises(ValueError, match="groups"):
        LagSampler("unused:9092", admin=FakeAdmin([], {}))  # type: ignore[arg-type]


def test_broker_errors_are_raised_with_what_failed() -> None:
    admin = FakeAdmin(groups=["g"], committed={})
    err = KafkaException(KafkaError(KafkaError._TRANSPORT))
    admin.list_consumer_groups = lambda **_: failed(err)  # type: ignore[method-assign]
    sampler = LagSampler("unused:9092", group_prefix="", admin=admin)  # type: ignore[arg-type]
    with pytest.raises(LagSampleError, match="list groups"):
        sampler.sample()


def test_a_transient_answer_takes_the_sample_again() -> None:
    admin = FakeAdmin(
        groups=["g"], committed={"g": {("t", 0): 1}}, partitions={"t": 1}, high={("t", 0): 4}
    )
    answers = [
        failed(KafkaException(KafkaError(KafkaError.COORDINATOR_LOAD_IN_PROGRESS))),
        failed(KafkaException(KafkaError(KafkaError.NOT_COORDINATOR))),
    ]
    real = admin.list_consumer_group_offsets

    def offsets(req: list[ConsumerGroupTopicPartitions], **kw: Any) -> dict[str, Future[Any]]:
        admin.calls.append("offsets-asked")
        return {"g": answers.pop(0)} if answers else real(req, **kw)

    admin.list_consumer_group_offsets = offsets  # type: ignore[method-assign]
    sampler = LagSampler("unused:9092", group_prefix="", admin=admin, retry_pause_s=0)  # type: ignore[arg-type]
    assert [s.lag for s in sampler.sample()] == [3]
    assert admin.calls.count("offsets-asked") == 3


def test_transient_answers_give_up_after_the_attempts_and_other_errors_at_once() -> None:
    admin = FakeAdmin(groups=["g"], committed={})
    asked: list[int] = []

    def answer(code: int) -> Any:
        def list_groups(**_: Any) -> Future[Any]:
            asked.append(code)
            return failed(KafkaException(KafkaError(code)))

        return list_groups

    admin.list_consumer_groups = answer(KafkaError.LEADER_NOT_AVAILABLE)  # type: ignore[method-assign]
    sampler = LagSampler("unused:9092", group_prefix="", admin=admin, retry_pause_s=0)  # type: ignore[arg-type]
    with pytest.raises(LagSampleError, match="list groups") as info:
        sampler.sample()
    assert info.value.transient and len(asked) == 3

    asked.clear()
    admin.list_consumer_groups = answer(KafkaError.GROUP_AUTHORIZATION_FAILED)  # type: ignore[method-assign]
    with pytest.raises(LagSampleError, match="list groups") as info:
        sampler.sample()
    assert not info.value.transient and len(asked) == 1


async def test_sample_async_runs_in_a_thread() -> None:
    admin = FakeAdmin(
        groups=[], committed={"g": {("t", 0): 0}}, partitions={"t": 1}, high={("t", 0): 2}
    )
    sampler = LagSampler("unused:9092", groups=["g"], admin=admin)  # type: ignore[arg-type]
    lags = await asyncio.wait_for(sampler.sample_async(), 5)
    assert [s.lag for s in lags] == [2]


def test_gauge_writer_sets_and_drops_series() -> None:
    metrics = Metrics(CollectorRegistry())
    writer = LagGaugeWriter(metrics.consumer_lag)

    def value(partition: str) -> float | None:
        labels = {"group": "g", "topic": "t", "partition": partition}
        return metrics.registry.get_sample_value("shipstream_consumer_lag", labels)

    writer.update([PartitionLag("g", "t", 0, 1, 0, 5), PartitionLag("g", "t", 1, None, 0, 2)])
    assert (value("0"), value("1")) == (4, 2)
    writer.update([PartitionLag("g", "t", 0, 5, 0, 5)])
    assert (value("0"), value("1")) == (0, None)
