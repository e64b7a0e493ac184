"""``hubs``: the hub network, a global table read straight from ``reference.hubs``.

Writer: ``shipstream bootstrap`` / ``shipstream hubs`` (not the workers). Key: hub code.
Every worker holds all of it and keeps consuming the compacted topic, so a hub update applies
at run time without a restart.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from faust.tables import GlobalTable
from faust.types import TableT

from streams import topics as cat
from streams.model import Hub

NAME = "hubs"


class ReferenceGlobalTable(GlobalTable):
    """A GlobalTable whose changelog is an existing topic, not ``<app>-<name>-changelog``.

    faust's partition assignor looks a global table's topic up by the *default* changelog
    name (``_changelog_topic_name``), ignoring ``changelog_topic``; the lookup fails inside
    the assignor and the group never completes its rebalance (the worker hangs after
    "Elected group leader"). Naming the real topic fixes that.
    """

    def _changelog_topic_name(self) -> str:
        return str(self.changelog_topic.get_topic_name())


def declare(pipeline: Any) -> TableT[str, dict]:
    """Declare the global table over ``reference.hubs`` (Avro values)."""
    app = pipeline.app
    topic = pipeline.topic(cat.HUBS)
    table = ReferenceGlobalTable(
        app,
        name=NAME,
        key_type=bytes,
        changelog_topic=topic,
        partitions=topic.partitions,
        # app.GlobalTable() passes this; the class alone does not. Without it the RocksDB
        # store looks a key up only in the partition of the event being processed.
        is_global=True,
        beacon=app.tables.beacon,
        help="Hub network",
    )
    # faust derives a table's value codec from value_type (JSON for plain types); the
    # store, made lazily, must decode reference.hubs' Avro instead.
    table.value_serializer = topic.value_serializer
    return app.tables.add(table)


class HubView(Mapping[str, Hub]):
    """The table seen as ``code -> Hub``, what the pure modules expect."""

    def __init__(self, table: Mapping[str, Any]) -> None:
        self.table = table

    def __getitem__(self, code: str) -> Hub:
        value = self.table[code]
        if value is None:
            raise KeyError(code)
        return Hub.from_avro(value)

    def get(self, code: str, default: Any = None) -> Any:  # noqa: D102
        value = self.table.get(code)
        return default if value is None else Hub.from_avro(value)

    def __iter__(self) -> Iterator[str]:
        return (k.decode() if isinstance(k, bytes) else k for k in self.table)

    def __len__(self) -> int:
        return len(self.table)
