"""The messages between roles on shipstream's internal topics, and their one codec.

Processing sends an :class:`EventUpdate` for every accepted event: the event and its ``seq``,
the shipment's count of accepted events when processing applied it (1 for the first). An
ARRIVED_HUB takes a detour through ``shipments.hub-arrivals`` to be numbered in its hub
window and comes back later than the events that followed it; ``seq`` is what lets the
decision role put each shipment's updates back in the order processing applied them. The
decision role's timer sends a :class:`Tick` into each partition of ``shipments.updates``.

On the topics, a record carries a *batch*: a JSON array of the messages of one partition
that one agent batch produced (a record holding a single object, as a tick is, also decodes).
A record per event was most of the cost of the hop between roles (one produce, one fetch and
one pass through faust's stream per event); a batch pays that once. Encoded with orjson: the
stdlib encoder was a visible share of a worker's CPU in profiles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from streams.model import ShipmentEvent

#: Message kinds on the wire (the ``k`` field).
UPDATE = "u"
TICK = "t"


class MessageError(ValueError):
    """An internal message that cannot be decoded: a bug or a foreign producer."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrival:
    """An ARRIVED_HUB as numbered by the hub agent: ``k`` is None when the arrival is late."""

    k: int | None
    capacity: int | None = None
    alternate: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventUpdate:
    """An event processing accepted, in its shipment's order (``seq``)."""

    event: ShipmentEvent
    seq: int
    ingested_at: int | None = None
    #: Set by the hub agent on an ARRIVED_HUB; None on every other update.
    arrival: Arrival | None = None

    @property
    def shipment_id(self) -> str:
        """The key of the update (the event's shipment)."""
        return self.event.shipment_id

    def counted(self, arrival: Arrival) -> EventUpdate:
        """The same update with its hub-window number."""
        return replace(self, arrival=arrival)


@dataclass(frozen=True, slots=True)
class Tick:
    """Asks the decision agent to run R7 on the partition it arrives on."""


Message = EventUpdate | Tick


def to_dict(message: Message) -> dict[str, Any]:
    """The JSON-ready form (also what the decision role keeps of a waiting update)."""
    if isinstance(message, Tick):
        return {"k": TICK}
    body: dict[str, Any] = {
        "k": UPDATE,
        "e": message.event.to_json(),
        "s": message.seq,
        "i": message.ingested_at,
    }
    a = message.arrival
    if a is not None:
        body["a"] = [a.k, a.capacity, a.alternate]
    return body


def from_dict(body: Any) -> Message:
    """Inverse of :func:`to_dict`; raises :class:`MessageError` on anything else."""
    try:
        kind = body["k"]
        if kind == TICK:
            return Tick()
        if kind != UPDATE:
            msg = f"unknown message kind {kind!r}"
            raise MessageError(msg)
        a = body.get("a")
        return EventUpdate(
            event=ShipmentEvent.from_json(body["e"]),
            seq=int(body["s"]),
            ingested_at=body.get("i"),
            arrival=None if a is None else Arrival(k=a[0], capacity=a[1], alternate=a[2]),
        )
    except MessageError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        msg = f"not a shipstream internal message ({type(exc).__name__}: {exc})"
        raise MessageError(msg) from exc


def encode(message: Message) -> bytes:
    """Bytes for the internal topics."""
    return orjson.dumps(to_dict(message))


def _loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        msg = f"not a shipstream internal message (not JSON: {exc})"
        raise MessageError(msg) from exc


def decode(data: bytes | str) -> Message:
    """Inverse of :func:`encode`; raises :class:`MessageError` on anything else."""
    return from_dict(_loads(data))


def encode_batch(batch: Sequence[Message]) -> bytes:
    """One record's value for several messages of the same partition, in order."""
    return orjson.dumps([to_dict(m) for m in batch])


def decode_batch(data: bytes | str) -> list[Message]:
    """The messages of one record (a batch, or a single message); :class:`MessageError` else."""
    body = _loads(data)
    if isinstance(body, list):
        return [from_dict(item) for item in body]
    return [from_dict(body)]
