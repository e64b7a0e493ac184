"""Hub arrivals per 15-minute event-time tumbling window (input of rule R5).

Windows are aligned on the epoch in UTC: ``[start, start + 15 min)``. An arrival exactly on a
boundary belongs to the window that starts there.

``HubWindowCounts`` numbers the arrivals of a hub window: the k-th distinct ``event_id`` seen in
it gets ``k``. It remembers the event ids of each window, so a re-delivered arrival (a replay
after a crash, a duplicate from the source) gets its original number back instead of inflating
the count, and R5 sees the same k, hence takes the same decision with the same id.

The store is any ``MutableMapping[str, list[str]]`` keyed by ``window_key`` — a dict in tests,
a changelog-backed Faust table in the processing agent (fed from the topic repartitioned by
hub, so every key of a hub is written from one partition). Windows whose end is more than
``retention_ms`` of stream time in the past are dropped by ``expire``; an arrival for such a
window is *late*: it is not counted and gets no number, so R5 does not fire on it.

Stream time lives in the instance, not in the store: after a restart it starts again from the
first arrival, so until then nothing is late. That only loosens lateness for a moment; numbers
already in the store are kept.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import msgspec

WINDOW_MS = 15 * 60 * 1000
DEFAULT_RETENTION_MS = 24 * 3_600_000


def window_start(ts_ms: int) -> int:
    """Start (epoch ms) of the 15-minute window holding ``ts_ms``."""
    return ts_ms - ts_ms % WINDOW_MS


def window_key(hub: str, ts_ms: int) -> str:
    """Table key of the window of ``hub`` holding ``ts_ms``: ``"<hub>@<window start ms>"``."""
    return f"{hub}@{window_start(ts_ms)}"


def parse_window_key(key: str) -> tuple[str, int]:
    """Inverse of ``window_key``; hub codes may contain ``@``, the start never does."""
    hub, _, start = key.rpartition("@")
    return hub, int(start)


class Arrival(msgspec.Struct, frozen=True, kw_only=True):
    """One ARRIVED_HUB scan as counted: ``k`` is its number in its window (None if late)."""

    hub: str
    shipment_id: str
    event_id: str
    window_start: int
    k: int | None
    redelivered: bool = False
    late: bool = False


def index_key(hub: str) -> str:
    """Table key of a hub's own bookkeeping: its stream time and the windows it holds."""
    return f"{hub}#index"


class HubWindowCounts:
    """Numbers arrivals per hub window, once per event id, and expires old windows.

    Stream time is kept *per hub* in the store (``index_key``), next to the list of the hub's
    window starts. Both are written while handling that hub's arrivals, so they live in the
    hub's changelog partition, survive restarts and move with the partition on a rebalance;
    lateness and expiry then depend only on the hub's own arrival order, never on which other
    hubs a worker happens to hold.
    """

    def __init__(
        self,
        store: MutableMapping[str, Any] | None = None,
        retention_ms: int = DEFAULT_RETENTION_MS,
    ) -> None:
        self.store: MutableMapping[str, Any] = {} if store is None else store
        self.retention_ms = retention_ms

    def record(self, hub: str, occurred_at: int, shipment_id: str, event_id: str) -> Arrival:
        """Count one arrival, expire the hub's windows past retention, return k.

        Windows only expire when the hub's stream time moves, so the index is scanned only
        then, and written only then or when a window is added.
        """
        ikey = index_key(hub)
        index = self.store.get(ikey)
        old_time = None if index is None else index["stream_time"]
        old_starts: list[int] = [] if index is None else index["starts"]
        stream_time = max(occurred_at, old_time or occurred_at)
        starts = old_starts
        if stream_time != old_time:
            starts = [s for s in old_starts if not self.is_expired(s, stream_time)]
            for gone in set(old_starts) - set(starts):
                self.store.pop(window_key(hub, gone), None)
        start = window_start(occurred_at)
        k: int | None = None
        redelivered = late = False
        if self.is_expired(start, stream_time):
            late = True
        else:
            key = window_key(hub, occurred_at)
            ids = self.store.get(key) or ()
            if event_id in ids:
                k, redelivered = list(ids).index(event_id) + 1, True
            else:
                # Assign a new list, never mutate: a Faust table only logs a change on set.
                counted = [*ids, event_id]
                self.store[key] = counted
                k = len(counted)
            if start not in starts:
                starts = sorted([*starts, start])
        if stream_time != old_time or starts is not old_starts:
            self.store[ikey] = {"stream_time": stream_time, "starts": starts}
        return Arrival(
            hub=hub,
            shipment_id=shipment_id,
            event_id=event_id,
            window_start=start,
            k=k,
            redelivered=redelivered,
            late=late,
        )

    def is_expired(self, start: int, stream_time: int) -> bool:
        """Whether the window starting at ``start`` is past retention at ``stream_time``."""
        return start + WINDOW_MS + self.retention_ms <= stream_time
