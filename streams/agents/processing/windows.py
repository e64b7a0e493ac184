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
from dataclasses import dataclass, replace

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrival:
    """One ARRIVED_HUB scan as counted: ``k`` is its number in its window (None if late)."""

    hub: str
    shipment_id: str
    event_id: str
    window_start: int
    k: int | None
    redelivered: bool = False
    late: bool = False


class HubWindowCounts:
    """Numbers arrivals per hub window, once per event id, and expires old windows."""

    def __init__(
        self,
        store: MutableMapping[str, list[str]] | None = None,
        retention_ms: int = DEFAULT_RETENTION_MS,
    ) -> None:
        self.store: MutableMapping[str, list[str]] = {} if store is None else store
        self.retention_ms = retention_ms
        self.stream_time: int | None = None
        """Greatest occurred_at seen by this instance; it only moves forward."""

    def record(self, hub: str, occurred_at: int, shipment_id: str, event_id: str) -> Arrival:
        """Count one arrival and return its number k in its window."""
        if self.stream_time is None or occurred_at > self.stream_time:
            self.stream_time = occurred_at
        start = window_start(occurred_at)
        arrival = Arrival(
            hub=hub, shipment_id=shipment_id, event_id=event_id, window_start=start, k=None
        )
        key = window_key(hub, occurred_at)
        if self.is_expired(start):
            # Decided by stream time alone, not by whether expire() already ran (a timer),
            # so that the same input always gives the same k.
            return replace(arrival, late=True)
        ids = list(self.store.get(key) or ())
        if event_id in ids:
            return replace(arrival, k=ids.index(event_id) + 1, redelivered=True)
        ids.append(event_id)
        # Assign, not mutate in place: a Faust table only logs a change on __setitem__.
        self.store[key] = ids
        return replace(arrival, k=len(ids))

    def is_expired(self, start: int) -> bool:
        """Whether the window starting at ``start`` is past retention in stream time."""
        if self.stream_time is None:
            return False
        return start + WINDOW_MS + self.retention_ms <= self.stream_time

    def expire(self) -> list[str]:
        """Drop the windows past retention; return their keys (for logs and metrics)."""
        expired = [key for key in list(self.store) if self.is_expired(parse_window_key(key)[1])]
        for key in expired:
            del self.store[key]
        return expired
