"""``hubs``: the hub network, a global table read straight from ``reference.hubs``.

Writer: ``shipstream bootstrap`` / ``shipstream hubs`` (not the workers). Key: hub code.
Every worker holds all of it and keeps consuming the compacted topic, so a hub update applies
at run time without a restart.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from faust.types import TableT

from streams import topics as cat
from streams.model import Hub

NAME = "hubs"


def declare(pipeline: Any) -> TableT[str, dict]:
    """Declare the global table over ``reference.hubs`` (Avro values)."""
    topic = pipeline.topic(cat.HUBS)
    return pipeline.app.GlobalTable(
        NAME, key_type=str, value_serializer=topic.value_serializer,
        changelog_topic=topic, partitions=topic.partitions, help="Hub network",
    )


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
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)
