"""The topic catalogue: every topic declared once with its key, value format and layout.

The SPEC topics keep their names exactly; internal topics are shipstream's own. Changelog
topics of tables are named by faust ``<app id>-<role>-<table>-changelog`` (``changelog_topic``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streams.settings import Settings
from tables import decision_memory, hub_windows, shipments

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


@dataclass(frozen=True)
class TopicSpec:
    """One topic: what it carries and how it is laid out."""

    name: str
    key: str
    value: str
    """``avro:<schema file>`` (Confluent wire format), ``json`` or ``raw``."""
    cleanup_policy: str = "delete"
    partitions: int | None = None
    """``None``: the configured partition count (``SHIPSTREAM_PARTITIONS``)."""
    retention_ms: int | None = None
    internal: bool = False
    doc: str = ""

    @property
    def schema_file(self) -> Path | None:
        """The .avsc of an Avro topic."""
        if not self.value.startswith("avro:"):
            return None
        return SCHEMA_DIR / self.value.removeprefix("avro:")

    @property
    def subject(self) -> str:
        """Registry subject under TopicNameStrategy."""
        return f"{self.name}-value"


EVENTS = TopicSpec(
    "shipments.events",
    "shipment_id",
    "avro:shipstream.ShipmentEvent.avsc",
    doc="Input: validated shipment events keyed by shipment_id.",
)
DECISIONS = TopicSpec(
    "shipments.decisions",
    "shipment_id",
    "avro:shipstream.Decision.avsc",
    doc="Output: decisions, written once per decision_id.",
)
ACTIONS = TopicSpec(
    "shipments.actions",
    "shipment_id",
    "avro:shipstream.ActionResult.avsc",
    doc="Outcome of each decision's delivery to its endpoint.",
)
DLQ = TopicSpec(
    "shipments.dlq",
    "original key",
    "raw",
    retention_ms=30 * 24 * 3600 * 1000,
    doc="Dead letters: original bytes unchanged, the reason in headers.",
)
HUBS = TopicSpec(
    "reference.hubs",
    "hub code",
    "avro:shipstream.Hub.avsc",
    cleanup_policy="compact",
    partitions=1,
    doc="Reference data, read as a global table. One partition: faust warns that a global "
    "table of several partitions can loop in recovery with several instances.",
)
UPDATES = TopicSpec(
    "shipments.updates",
    "none: the shipments' partition",
    "json",
    internal=True,
    doc="Internal: batches of accepted events (with their seq) from processing to decision, "
    "each record in its shipments' partition (streams/messages.py).",
)
HUB_ARRIVALS = TopicSpec(
    "shipments.hub-arrivals",
    "none: the hub's partition",
    "json",
    internal=True,
    doc="Internal: batches of ARRIVED_HUB updates repartitioned by hub for the window counts.",
)

CATALOGUE: tuple[TopicSpec, ...] = (EVENTS, DECISIONS, ACTIONS, DLQ, HUBS, UPDATES, HUB_ARRIVALS)
AVRO_TOPICS: tuple[TopicSpec, ...] = tuple(t for t in CATALOGUE if t.schema_file is not None)


#: The tables of each role whose changelogs faust writes, by the names ``tables/`` declares
#: them under (the hubs table reads reference.hubs instead).
TABLES_BY_ROLE: dict[str, tuple[str, ...]] = {
    "processing": (shipments.NAME, hub_windows.NAME),
    "decision": (decision_memory.NAME, decision_memory.STREAM_TIME),
}


def changelog_topic(settings: Settings, role: str, table: str) -> str:
    """The changelog faust writes ``table`` to under the group of ``role``.

    faust names it ``<app>-<table>-changelog``, its app id being the role's consumer group
    (``Settings.group_id``: ``<app id>-<role>``, or ``<app id>-all`` for ``all`` workers).
    Not prefixed by ``topic_prefix``: faust does not know it.
    """
    return f"{settings.app_id}-{role}-{table}-changelog"


def changelog_names(settings: Settings, with_all: bool = True) -> list[str]:
    """Changelog topics of the tables, for per-role workers and for ``all`` workers.

    Created up front because faust's own creation races with its consumer: a worker that
    subscribes while the topic it just created has no partitions in the metadata yet caches
    "0 partitions" and fails every write to that table (the chaos harness saw ``stream_time``
    do this, with every update dead-lettered as internal_error); ``streams/patches/README.md``
    (P0). ``with_all=False``: only the per-role workers' ones.
    """
    return [
        changelog_topic(settings, group, table)
        for role, tables in TABLES_BY_ROLE.items()
        for group in ((role, "all") if with_all else (role,))
        for table in tables
    ]


def partitions_of(spec: TopicSpec, settings: Settings) -> int:
    """Partition count of a topic under these settings."""
    return spec.partitions if spec.partitions is not None else settings.partitions


def topic_config(spec: TopicSpec) -> dict[str, str]:
    """Broker-side topic config of a catalogue entry."""
    config = {"cleanup.policy": spec.cleanup_policy}
    if spec.retention_ms is not None:
        config["retention.ms"] = str(spec.retention_ms)
    return config
