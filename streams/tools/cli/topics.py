"""``shipstream topics [--all]``: the catalogue's topics as the broker has them.

Partitions, low/high offsets per partition (so records present), and the config that matters
for retention, read from the broker (``describe_configs``), not from the catalogue: the point
is to see what the cluster really holds, drift included.

Also home of :func:`resolve`, the short-name lookup (``events`` → ``shipments.events``) that
``tail`` shares.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, OffsetSpec, ResourceType
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_incrementing

from streams import topics as catalogue
from streams.errors import ShipstreamError
from streams.settings import Settings
from streams.tools.clients import TIMEOUT, check_broker
from streams.tools.console import table

SHOWN_CONFIG = ("cleanup.policy", "retention.ms")
RETRIES = 6
TRANSIENT = (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE)
"""Answers about a topic created a moment ago, whose partitions have no leader yet (the admin
API does not flag them retriable)."""
_T = TypeVar("_T")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the sub-command."""
    p = sub.add_parser("topics", help="partitions, offsets and config of the catalogue's topics")
    p.add_argument("--all", action="store_true", help="every topic on the broker")
    p.add_argument("--brief", action="store_true", help="one line per topic, no partitions")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


@dataclass
class TopicInfo:
    """One topic as the broker reports it."""

    name: str
    exists: bool
    offsets: dict[int, tuple[int, int]] = field(default_factory=dict)
    config: dict[str, str | None] = field(default_factory=dict)
    expected_partitions: int | None = None
    expected_config: dict[str, str] = field(default_factory=dict)

    @property
    def partitions(self) -> int:
        """Partition count."""
        return len(self.offsets)

    @property
    def records(self) -> int:
        """Records present: high - low summed (approximate with compaction, transactions)."""
        return sum(high - low for low, high in self.offsets.values())

    def drift(self) -> list[str]:
        """Where a catalogue topic differs from its declaration."""
        if not self.exists:
            return ["missing; run `shipstream bootstrap`"]
        out = []
        if self.expected_partitions is not None and self.expected_partitions != self.partitions:
            out.append(f"{self.partitions} partitions, declared {self.expected_partitions}")
        for key, want in self.expected_config.items():
            if self.config.get(key) != want:
                out.append(f"{key}={self.config.get(key)}, declared {want}")
        return out

    def as_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "exists": self.exists,
            "partitions": self.partitions,
            "records": self.records,
            "config": self.config,
            "offsets": [
                {"partition": p, "low": low, "high": high, "records": high - low}
                for p, (low, high) in sorted(self.offsets.items())
            ],
            "drift": self.drift(),
        }


def _transient(exc: BaseException) -> bool:
    if not isinstance(exc, KafkaException):
        return False
    err = exc.args[0]
    return bool(err.retriable() or err.code() in TRANSIENT)


def _retrying(what: str, settings: Settings, request: Callable[[], _T]) -> _T:
    """Run an admin request, again while the broker answers with a retriable error.

    Right after a topic is created its partitions have no leader for a moment
    (NOT_LEADER_FOR_PARTITION); that is worth a short wait, not an error.
    """
    try:
        for attempt in Retrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(RETRIES),
            wait=wait_incrementing(start=0.5, increment=0.5),
            reraise=True,
        ):
            with attempt:
                return request()
    except KafkaException as exc:
        msg = f"{what} failed on Kafka at {settings.broker} ({exc}); see `make status`"
        raise ShipstreamError(msg) from exc
    except TimeoutError as exc:
        msg = f"{what}: no answer from Kafka at {settings.broker}; see `make status`"
        raise ShipstreamError(msg) from exc
    raise AssertionError  # unreachable: the last attempt returns or raises


def _unless_deleted(future: Any) -> Any:
    """A future's result, or None when its topic was deleted since the metadata was read."""
    try:
        return future.result(timeout=TIMEOUT + 5)
    except KafkaException as exc:
        if exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return None
        raise


def _watermarks(
    client: AdminClient, settings: Settings, partitions: list[tuple[str, int]]
) -> dict[tuple[str, int], tuple[int, int]]:
    if not partitions:
        return {}

    def offsets(spec: OffsetSpec) -> dict[tuple[str, int], int]:
        request = {TopicPartition(t, p): spec for t, p in partitions}
        futures = client.list_offsets(request, request_timeout=TIMEOUT)
        out = {}
        for tp, f in futures.items():
            info = _unless_deleted(f)
            if info is not None:
                out[(tp.topic, tp.partition)] = int(info.offset)
        return out

    lows = _retrying("list offsets", settings, lambda: offsets(OffsetSpec.earliest()))
    highs = _retrying("list offsets", settings, lambda: offsets(OffsetSpec.latest()))
    return {tp: (lows[tp], highs[tp]) for tp in partitions if tp in lows and tp in highs}


def _configs(
    client: AdminClient, settings: Settings, names: list[str]
) -> dict[str, dict[str, str | None]]:
    if not names:
        return {}

    def describe_all() -> dict[str, dict[str, str | None]]:
        resources = [ConfigResource(ResourceType.TOPIC, n) for n in names]
        out = {}
        for res, fut in client.describe_configs(resources, request_timeout=TIMEOUT).items():
            entries = _unless_deleted(fut)
            if entries is None:
                continue
            out[res.name] = {k: (entries[k].value if k in entries else None) for k in SHOWN_CONFIG}
        return out

    return _retrying("describe topic configs", settings, describe_all)


def describe(settings: Settings, all_topics: bool = False) -> list[TopicInfo]:
    """The catalogue's topics (or every topic) with offsets and config from the broker."""
    client = check_broker(settings)
    metadata = client.list_topics(timeout=TIMEOUT).topics
    if all_topics:
        infos = [TopicInfo(name, True) for name in sorted(metadata)]
    else:
        infos = [
            TopicInfo(
                settings.topic(spec.name),
                settings.topic(spec.name) in metadata,
                expected_partitions=catalogue.partitions_of(spec, settings),
                expected_config=catalogue.topic_config(spec),
            )
            for spec in catalogue.CATALOGUE
        ]
    present = [i for i in infos if i.exists and metadata[i.name].error is None]
    marks = _watermarks(
        client, settings, [(i.name, p) for i in present for p in metadata[i.name].partitions]
    )
    configs = _configs(client, settings, [i.name for i in present])
    for info in present:
        info.offsets = {
            p: marks[(info.name, p)]
            for p in metadata[info.name].partitions
            if (info.name, p) in marks
        }
        info.config = configs.get(info.name, {})
        info.exists = bool(info.offsets) and info.name in configs
    # a topic deleted while we looked (a shared broker): gone from --all, missing otherwise
    return [i for i in infos if i.exists or not all_topics]


def human_ms(raw: str | None) -> str:
    """``604800000`` → ``7d``; ``-1`` → ``forever``."""
    if raw is None:
        return "-"
    try:
        ms = int(raw)
    except ValueError:
        return raw
    if ms < 0:
        return "forever"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def render(infos: list[TopicInfo], brief: bool = False) -> str:
    """The table output."""
    out = [
        table(
            (
                [
                    i.name,
                    i.partitions if i.exists else "missing",
                    i.records if i.exists else None,
                    i.config.get("cleanup.policy"),
                    human_ms(i.config.get("retention.ms")) if i.exists else None,
                    "; ".join(i.drift()),
                ]
                for i in infos
            ),
            ("TOPIC", "PARTITIONS", "RECORDS", "CLEANUP", "RETENTION", "NOTE"),
        )
    ]
    if not brief:
        for info in infos:
            if not info.offsets:
                continue
            out.append(f"\n{info.name}")
            rows = [[p, low, high, high - low] for p, (low, high) in sorted(info.offsets.items())]
            sub = table(rows, ("PARTITION", "LOW", "HIGH", "RECORDS"))
            out.append("\n".join("  " + line for line in sub.splitlines()))
    return "\n".join(out)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the topics; exit 0 even with drift (it is reported, not an error)."""
    infos = describe(settings, args.all)
    if args.json:
        print(json.dumps([i.as_json() for i in infos], indent=2))
    else:
        print(render(infos, args.brief))
    missing = [i.name for i in infos if not i.exists]
    if missing:
        print(f"missing: {', '.join(missing)}; run `shipstream bootstrap`", file=sys.stderr)
    return 0
