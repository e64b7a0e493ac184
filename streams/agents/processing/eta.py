"""ETA of a shipment: its latest hub scan plus that hub's transit time to the destination.

Kept apart from the reducer because it is the one piece that reads reference data (hubs),
which changes at run time: the same state can get a different ETA after a hub update.
"""

from __future__ import annotations

from collections.abc import Mapping

from streams.model import Hub

HOUR_MS = 3_600_000


def compute_eta(
    hub_code: str | None,
    scanned_at: int | None,
    destination: str | None,
    hubs: Mapping[str, Hub],
) -> int | None:
    """Epoch ms of the expected delivery, or ``None`` when any part is unknown.

    Unknown means: no hub scan yet, no destination (CREATED not seen), a hub missing from
    reference data, or a hub without transit time to that region. ``None`` rather than a
    guess, because rules R3/R4 act on the ETA and a guessed one would notify customers.
    """
    if hub_code is None or scanned_at is None or destination is None:
        return None
    hub = hubs.get(hub_code)
    if hub is None:
        return None
    hours = hub.transit_hours.get(destination)
    if hours is None:
        return None
    return scanned_at + hours * HOUR_MS
