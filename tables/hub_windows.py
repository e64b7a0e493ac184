"""``hub_windows``: event ids of the arrivals at a hub per 15-minute event-time window.

Writer: the processing role's hub agent, from ``shipments.hub-arrivals`` (repartitioned by
hub). Key: ``<hub>@<window start ms>``; value: the arrival event ids in arrival order, so the
k-th arrival keeps its number when re-delivered. Changelog:
``<app id>-processing-hub_windows-changelog``. Retention: windows older than 24 h of stream
time no longer count (late); deleting them is not implemented yet.
"""

from __future__ import annotations

import faust
from faust.types import TableT

from streams.settings import Settings

NAME = "hub_windows"


def declare(app: faust.App, settings: Settings) -> TableT[str, list]:
    """Declare the table on the app."""
    return app.Table(
        NAME,
        key_type=bytes,
        partitions=settings.partitions,
        help="Arrival event ids per hub and 15-minute window",
    )
