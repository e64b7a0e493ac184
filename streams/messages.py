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
one pass through faust's stream per event); a batch pays that once. Encoded and decoded by
msgspec, straight from and to the typed messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from msgspec.structs import replace

from streams.model import ShipmentEvent

#: Message kinds on the wire (the ``k`` field).
UPDATE = "u"
TICK = "t"


class MessageError(ValueError):
    """An internal message that cannot be decoded: a bug or a foreign producer."""


class Arrival(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """An ARRIVED_HUB as numbered by the hub agent: ``k`` is None when the arrival is late.

    On the wire: ``[k, capacity, alternate]``.
    """

    k: int | None
    capacity: int | None = None
    alternate: str | None = None


class EventUpdate(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag_field="k",
    tag=UPDATE,
    rename={"event": "e", "seq": "s", "ingested_at": "i", "arrival": "a"},
    omit_defaults=True,
):
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


class Tick(msgspec.Struct, frozen=True, tag_field="k", tag=TICK):
    """Asks the decision agent to run R7 on the partition it arrives on."""


Message = EventUpdate | Tick

# msgspec encodes and decodes these types (and the event dataclass inside) in C: the per-field
# conversion in Python was the largest share of the decision role's CPU (issue 10 profiles).
_encoder = msgspec.json.Encoder()
_batch_decoder = msgspec.json.Decoder(list[Message] | Message)  # type: ignore[arg-type]


def to_dict(message: Message) -> dict[str, Any]:
    """The JSON-ready form (also what the decision role keeps of a waiting update)."""
    out: dict[str, Any] = msgspec.to_builtins(message)
    return out


def from_dict(body: Any) -> Message:
    """Inverse of :func:`to_dict`; raises :class:`MessageError` on anything else."""
    try:
        message: Message = msgspec.convert(body, Message)  # type: ignore[arg-type]
    except msgspec.ValidationError as exc:
        msg = f"not a shipstream internal message ({exc})"
        raise MessageError(msg) from exc
    return message


def encode(message: Message) -> bytes:
    """Bytes for the internal topics."""
    return _encoder.encode(message)


def decode(data: bytes | str) -> Message:
    """Inverse of :func:`encode`; raises :class:`MessageError` on anything else."""
    (message,) = decode_batch(data)
    return message


def encode_batch(batch: Sequence[Message]) -> bytes:
    """One record's value for several messages of the same partition, in order."""
    return _encoder.encode(batch)


def decode_batch(data: bytes | str) -> list[Message]:
    """The messages of one record (a batch, or a single message); :class:`MessageError` else."""
    try:
        body = _batch_decoder.decode(data)
    except msgspec.ValidationError as exc:
        msg = f"not a shipstream internal message ({exc})"
        raise MessageError(msg) from exc
    except msgspec.DecodeError as exc:
        msg = f"not a shipstream internal message (not JSON: {exc})"
        raise MessageError(msg) from exc
    return body if isinstance(body, list) else [body]
