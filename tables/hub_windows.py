"""``hub_windows``: event ids of the arrivals at a hub per 15-minute event-time window.

Writer: the processing role's hub agent, from ``shipments.hub-arrivals`` (repartitioned by
hub). Keys: ``<hub>@<window start ms>`` -> the arrival event ids in arrival order, so the k-th
arrival keeps its number when re-delivered; and ``<hub>#index`` -> the hub's stream time and
window starts. Changelog: ``<app id>-processing-hub_windows-changelog``. Retention: a hub's
windows older than 24 h of its stream time are deleted as its arrivals come in (the deletes
are written from the hub's own partition, so they land in the right changelog partition).
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
