"""``shipments``: the state of every shipment (reducer.ShipmentState as JSON).

Writer: the processing role, from ``shipments.events``. Key: shipment_id. Partitioned like
``shipments.events`` (same key, same count), which faust requires: a table write goes to the
changelog partition of the event being processed. Changelog:
``<app id>-processing-shipments-changelog`` (compacted). Retention: forever, a closed
shipment keeps its final state (a retention job is future work).
"""

from __future__ import annotations

import faust
from faust.types import TableT

from streams.settings import Settings

NAME = "shipments"


def declare(app: faust.App, settings: Settings) -> TableT[str, bytes]:
    """Declare the table on the app."""
    return app.Table(
        NAME,
        key_type=bytes,
        partitions=settings.partitions,
        value_type=bytes,  # raw: orjson bytes, encoded by the role (one encode per event)
        help="Shipment state by shipment_id",
    )
