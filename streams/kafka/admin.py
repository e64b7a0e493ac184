"""Creating the catalogue's topics on the broker, idempotently.

``admin`` and ``check_broker`` are :mod:`streams.kafka.clients`' (re-exported for callers).
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewTopic

from streams.kafka.clients import admin_client as admin
from streams.kafka.clients import check_broker
from streams.settings import Settings
from streams.topics import CATALOGUE, TopicSpec, changelog_names, partitions_of, topic_config

__all__ = ["admin", "check_broker", "delete_topics", "ensure_topics"]

log = logging.getLogger(__name__)


def ensure_topics(
    settings: Settings, specs: tuple[TopicSpec, ...] = CATALOGUE, timeout: float = 30.0
) -> list[str]:
    """Create the topics (and the tables' changelogs) that do not exist yet; returns them."""
    check_broker(settings)
    client = admin(settings)
    existing = set(client.list_topics(timeout=timeout).topics)
    wanted = [
        NewTopic(
            settings.topic(s.name),
            num_partitions=partitions_of(s, settings),
            replication_factor=settings.replication,
            config=topic_config(s),
        )
        for s in specs
        if settings.topic(s.name) not in existing
    ] + [
        NewTopic(
            name,
            num_partitions=settings.partitions,
            replication_factor=settings.replication,
            config={"cleanup.policy": "compact"},
        )
        for name in changelog_names(settings)
        if name not in existing
    ]
    if not wanted:
        return []
    created = []
    for name, fut in client.create_topics(wanted, operation_timeout=timeout).items():
        try:
            fut.result()
            created.append(name)
            log.info("created topic %s", name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def delete_topics(settings: Settings, names: list[str], timeout: float = 30.0) -> None:
    """Delete topics (tests clean up their prefixed topics)."""
    if not names:
        return
    client = admin(settings)  # keep a reference: a destroyed client fails its futures
    for fut in client.delete_topics(names, operation_timeout=timeout).values():
        try:
            fut.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
