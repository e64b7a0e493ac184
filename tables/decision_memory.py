"""``decision_memory``: the decision log of each shipment (decision.memory.DecisionMemory).

Writer: the decision role, from ``shipments.updates``. Key: shipment_id, partitioned like the
updates. It records which rules fired (and R4's last notified ETA, R7's silence) so each
decision is taken once, also after a restart or a rebalance: the changelog brings it back
before the partition is processed again. Changelog:
``<app id>-decision-decision_memory-changelog``. Retention: forever.

``stream_time`` (same role) keeps the greatest occurred_at per partition for R7, keyed by
partition number and written from that partition, so it moves with the partition.
"""

from __future__ import annotations

import faust
from faust.types import TableT

from streams.settings import Settings

NAME = "decision_memory"
STREAM_TIME = "stream_time"


def declare(app: faust.App, settings: Settings) -> TableT[str, bytes]:
    """Declare the decision log."""
    return app.Table(
        NAME,
        key_type=bytes,
        partitions=settings.partitions,
        value_type=bytes,  # raw: orjson bytes, encoded by the role (one encode per event)
        help="Decisions already taken, by shipment_id",
    )


def declare_stream_time(app: faust.App, settings: Settings) -> TableT[str, int]:
    """Declare the per-partition stream time."""
    return app.Table(
        STREAM_TIME,
        key_type=bytes,
        partitions=settings.partitions,
        help="Greatest occurred_at per partition",
    )
