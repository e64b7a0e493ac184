"""Consumer lag measured at the broker: high watermark minus committed offset.

Why from the broker and not from the consumer: a consumer that is stuck (a hung agent, a dead
worker, a crash loop) stops reporting its own lag exactly when lag matters. Committed offsets
and watermarks live on the broker, so lag computed from them keeps growing while the
consumer is stalled, and alerts and the KEDA autoscaler see it.

Lag of one partition = high watermark - max(committed offset, low watermark). A partition with
no committed offset, or one whose committed offset retention has already deleted, is read
from the low watermark on (``auto.offset.reset=earliest``, as our workers use), so its lag
counts from there.

:meth:`LagSampler.sample` makes blocking admin requests (a few round trips, bounded by
``timeout``): never on an event loop, where ``sample_async`` runs it in a thread. The CLI
(``shipstream lag``, ``summary``, ``rehearse``) calls it directly; a worker samples in a
child process instead (:class:`streams.monitoring.exporter.IsolatedSampler`), because
librdkafka can abort the process it runs in when the broker restarts.
:class:`LagGaugeWriter` puts samples on the ``shipstream_consumer_lag`` gauge.

This module does not import faust, so the CLI, tests and the exporter can use it alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from streams.errors import ShipstreamError

log = logging.getLogger(__name__)

IGNORED_GROUP_PREFIXES = ("apicurio-",)
"""Apicurio's KafkaSQL storage replays its journal under a fresh group per start
(``apicurio-<uuid>``) and never commits: those groups are not consumers of ours."""

IGNORED_TOPIC_SUFFIXES = ("-changelog", "-__assignor-__leader", "reference.hubs")
"""Topics a faust group is *assigned* but never commits on: table changelogs (read as standby
or during recovery), faust's leader topic, and the global table's topic. Counting them would
show their whole length as lag forever."""

TopicPartitionKey = tuple[str, int]
ConfigValue = str | int | float | bool


class LagSampleError(ShipstreamError):
    """The broker did not answer a lag request; the message names what failed."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


TRANSIENT_CODES = frozenset(
    {
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.REQUEST_TIMED_OUT,
    }
)
"""Answers that mean "not yet" rather than "no": a coordinator or leader moving or loading
(after a broker restart, or for a group or topic just created), or metadata a step behind.
A sample that meets one is taken again (see :attr:`LagSampler.attempts`)."""


@dataclass(frozen=True)
class PartitionLag:
    """Lag of one consumer group on one partition, with the offsets it was computed from."""

    group: str
    topic: str
    partition: int
    committed: int | None
    """Next offset the group will read, as committed; ``None`` when it never committed."""
    low: int
    high: int

    @property
    def lag(self) -> int:
        """Records the group has still to read on this partition."""
        position = self.low if self.committed is None else max(self.committed, self.low)
        return max(0, self.high - position)


def compute_lags(
    group: str,
    committed: Mapping[TopicPartitionKey, int | None],
    watermarks: Mapping[TopicPartitionKey, tuple[int, int]],
) -> list[PartitionLag]:
    """Lag of ``group`` on every partition that has watermarks, sorted by topic and partition.

    ``committed`` may lack partitions (never committed) or hold negative offsets (librdkafka's
    OFFSET_INVALID for "no commit"): both count from the low watermark.
    """
    out = []
    for (topic, partition), (low, high) in sorted(watermarks.items()):
        offset = committed.get((topic, partition))
        out.append(
            PartitionLag(
                group=group,
                topic=topic,
                partition=partition,
                committed=offset if offset is not None and offset >= 0 else None,
                low=low,
                high=high,
            )
        )
    return out


def is_ignored_topic(topic: str) -> bool:
    """Topics that are not a group's input (see :data:`IGNORED_TOPIC_SUFFIXES`)."""
    return topic.endswith(IGNORED_TOPIC_SUFFIXES)


def is_ignored_group(group_id: str) -> bool:
    """Groups that are not shipstream consumers (see :data:`IGNORED_GROUP_PREFIXES`)."""
    return group_id.startswith(IGNORED_GROUP_PREFIXES)


class LagSampler:
    """Samples the lag of a fixed list of groups, or of every group whose id has a prefix.

    One admin client is kept for the sampler's life (its connections are reused across
    samples); it is thread-safe, so :meth:`sample` may run in any executor thread.
    """

    def __init__(
        self,
        bootstrap_servers: str | Mapping[str, Any],
        groups: Sequence[str] | None = None,
        group_prefix: str | None = None,
        timeout: float = 10.0,
        client_config: Mapping[str, ConfigValue] | None = None,
        admin: AdminClient | None = None,
        attempts: int = 3,
        retry_pause_s: float = 0.5,
    ) -> None:
        if groups is None and group_prefix is None:
            msg = "LagSampler needs the groups to watch: pass groups=[...] or group_prefix='...'"
            raise ValueError(msg)
        self.groups = tuple(groups) if groups is not None else None
        self.group_prefix = group_prefix
        self.timeout = timeout
        self.attempts = attempts
        self.retry_pause_s = retry_pause_s
        # A mapping is a whole client config (streams.kafka.clients.librdkafka_config: servers
        # and security); a string, just the servers of a plaintext broker.
        config: dict[str, Any] = (
            {"bootstrap.servers": bootstrap_servers}
            if isinstance(bootstrap_servers, str)
            else dict(bootstrap_servers)
        )
        config["socket.timeout.ms"] = int(timeout * 1000)
        config.update(client_config or {})
        self._admin = admin if admin is not None else AdminClient(config)

    def group_ids(self) -> list[str]:
        """The groups this sample covers (Apicurio's groups never count)."""
        if self.groups is not None:
            return [g for g in self.groups if not is_ignored_group(g)]
        listed = self._result(
            self._admin.list_consumer_groups(request_timeout=self.timeout), "list groups"
        )
        for err in listed.errors:
            log.warning("listing consumer groups: %s", err)
        prefix = self.group_prefix or ""
        return sorted(
            g.group_id
            for g in listed.valid
            if g.group_id.startswith(prefix) and not is_ignored_group(g.group_id)
        )

    def sample(self) -> list[PartitionLag]:
        """Lag of every partition of every topic the groups consume (blocking: see module).

        A transient answer (:data:`TRANSIENT_CODES`) takes the whole sample again, up to
        ``attempts`` times: an operator's ``shipstream lag`` right after a group's first commit
        or a broker restart should print figures, not a coordinator's "loading".
        """
        attempt = 1
        while True:
            try:
                return self._sample_once()
            except LagSampleError as exc:
                if not exc.transient or attempt >= self.attempts:
                    raise
                log.info("lag sample %d/%d: %s; taking it again", attempt, self.attempts, exc)
                time.sleep(self.retry_pause_s * attempt)
                attempt += 1

    def _sample_once(self) -> list[PartitionLag]:
        groups = self.group_ids()
        if not groups:
            return []
        committed = {g: self._committed(g) for g in groups}
        assigned = self._assigned_topics(groups)
        topics_of = {
            g: {
                t
                for t in {t for t, _ in committed[g]} | assigned.get(g, set())
                if not is_ignored_topic(t)
            }
            for g in groups
        }
        all_topics = set().union(*topics_of.values())
        watermarks = self._watermarks(self._partitions(all_topics))
        samples: list[PartitionLag] = []
        for g in groups:
            mine = {tp: w for tp, w in watermarks.items() if tp[0] in topics_of[g]}
            samples.extend(compute_lags(g, committed[g], mine))
        return samples

    async def sample_async(self) -> list[PartitionLag]:
        """:meth:`sample` in the loop's default executor, so the event loop keeps running."""
        return await asyncio.get_running_loop().run_in_executor(None, self.sample)

    def _committed(self, group: str) -> dict[TopicPartitionKey, int | None]:
        # One group per request: librdkafka's ListConsumerGroupOffsets takes exactly one.
        futures = self._admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=self.timeout
        )
        result = self._result(futures[group], f"committed offsets of group {group}")
        return {
            (tp.topic, tp.partition): (tp.offset if tp.offset >= 0 else None)
            for tp in result.topic_partitions or []
        }

    def _assigned_topics(self, groups: list[str]) -> dict[str, set[str]]:
        """Topics assigned to live members: a group's topic counts before its first commit."""
        futures = self._admin.describe_consumer_groups(groups, request_timeout=self.timeout)
        out: dict[str, set[str]] = {}
        for group, fut in futures.items():
            desc = self._result(fut, f"describe group {group}")
            topics = out.setdefault(group, set())
            for member in desc.members or []:
                if member.assignment is not None:
                    topics.update(tp.topic for tp in member.assignment.topic_partitions)
        return out

    def _partitions(self, topics: Iterable[str]) -> list[TopicPartitionKey]:
        wanted = set(topics)
        if not wanted:
            return []
        try:
            metadata = self._admin.list_topics(timeout=self.timeout)
        except KafkaException as exc:
            msg = f"cannot read topic metadata from the broker ({exc}); is Kafka up?"
            raise LagSampleError(msg) from exc
        # A group may keep commits for a topic deleted since: nothing left to read there.
        return [
            (name, p)
            for name, meta in metadata.topics.items()
            if name in wanted and meta.error is None
            for p in meta.partitions
        ]

    def _watermarks(
        self, partitions: list[TopicPartitionKey]
    ) -> dict[TopicPartitionKey, tuple[int, int]]:
        if not partitions:
            return {}
        lows = self._offsets(partitions, OffsetSpec.earliest(), "low")
        highs = self._offsets(partitions, OffsetSpec.latest(), "high")
        return {tp: (lows[tp], highs[tp]) for tp in partitions}

    def _offsets(
        self, partitions: list[TopicPartitionKey], spec: OffsetSpec, what: str
    ) -> dict[TopicPartitionKey, int]:
        request = {TopicPartition(t, p): spec for t, p in partitions}
        futures = self._admin.list_offsets(request, request_timeout=self.timeout)
        out = {}
        for tp, fut in futures.items():
            info = self._result(fut, f"{what} watermark of {tp.topic}[{tp.partition}]")
            out[(tp.topic, tp.partition)] = int(info.offset)
        return out

    def _result(self, future: Any, what: str) -> Any:
        try:
            return future.result(timeout=self.timeout + 5)
        except KafkaException as exc:
            msg = f"{what}: the broker answered {exc}; check that Kafka is up and reachable"
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            transient = error is not None and error.code() in TRANSIENT_CODES
            raise LagSampleError(msg, transient=transient) from exc
        except TimeoutError as exc:
            msg = f"{what}: no answer from the broker within {self.timeout + 5:.0f}s"
            raise LagSampleError(msg) from exc


class LabelledGauge(Protocol):
    """The part of ``prometheus_client.Gauge`` the writer needs."""

    def labels(self, *values: str) -> Any: ...  # noqa: D102

    def remove(self, *values: str) -> None: ...  # noqa: D102


class LagGaugeWriter:
    """Writes samples into ``shipstream_consumer_lag`` (``Metrics.consumer_lag``).

    Series of partitions that disappeared from the latest sample (a deleted topic, a group
    gone) are removed, so a dashboard does not show their last value forever.
    """

    def __init__(self, gauge: LabelledGauge) -> None:
        self.gauge = gauge
        self._seen: set[tuple[str, str, str]] = set()

    def update(self, samples: Iterable[PartitionLag]) -> None:
        """Set the gauge to ``samples`` and drop the series no longer in them."""
        now: set[tuple[str, str, str]] = set()
        for s in samples:
            key = (s.group, s.topic, str(s.partition))
            self.gauge.labels(*key).set(s.lag)
            now.add(key)
        for key in self._seen - now:
            self.gauge.remove(*key)
        self._seen = now
