"""What the decision role keeps per shipment: where its updates are, its state, its memory.

One value per shipment in the ``decision_memory`` table, written once per update:

- ``next_seq``: the ``seq`` of the update to evaluate next. Updates arrive out of order when
  an ARRIVED_HUB comes back from the hub detour after the events that followed it; those
  that run ahead wait in ``waiting`` (sorted by seq) until the gap is filled. A seq below
  ``next_seq`` is a replay of an update already evaluated. ``None``: a value written before
  seqs existed, where the next update is taken as it comes;
- ``state``: the shipment's state folded from the evaluated updates in seq order (the same
  fold as processing, without the ids), so the rules see each event's own state even when a
  replay after a crash re-sends an update whose processing state has since moved on;
- ``memory``: which decisions were taken (:mod:`memory`).

Keeping the waiting updates inside the same value (not a second table) means one write per
update whether or not it waits, and they move with the partition on a rebalance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import orjson

from streams import messages
from streams.agents.decision.memory import DecisionMemory
from streams.agents.processing.reducer import ShipmentState

TRACK_VERSION = 2


class Track(msgspec.Struct, frozen=True, kw_only=True, tag_field="v", tag=TRACK_VERSION):
    """The decision role's value for one shipment."""

    shipment_id: str
    next_seq: int | None = 1
    state: ShipmentState | None = None
    memory: DecisionMemory | None = None
    waiting: tuple[messages.EventUpdate, ...] = ()
    #: Wall clock (epoch ms) when the oldest of ``waiting`` started waiting.
    waiting_since: int | None = None

    def to_bytes(self) -> bytes:
        """The table value (version 2), encoded by msgspec in one call.

        The same JSON as ``state.to_json()``, ``memory.to_json()`` and ``messages.to_dict``
        give, which is how version 2 was first written (``tests/unit/test_track.py``).
        """
        return _encoder.encode(self)

    @classmethod
    def from_value(cls, shipment_id: str, value: Track | bytes | str | Mapping[str, Any]) -> Track:
        """Read a table value; a memory of version 1 (before seqs) becomes a Track."""
        if isinstance(value, Track):
            return value
        if isinstance(value, bytes | str):
            try:
                decoded = _decoder.decode(value)
            except msgspec.ValidationError:
                pass  # neither tag (a value older than the "v" field): read below
            else:
                if isinstance(decoded, Track):
                    return decoded
                return cls(shipment_id=shipment_id, next_seq=None, memory=decoded)
        d = orjson.loads(value) if isinstance(value, bytes | str) else value
        if d.get("v") != TRACK_VERSION:
            return cls(shipment_id=shipment_id, next_seq=None, memory=DecisionMemory.from_json(d))
        waiting = tuple(messages.from_dict(u) for u in d.get("waiting") or ())
        return cls(
            shipment_id=shipment_id,
            next_seq=d.get("next_seq"),
            state=None if d.get("state") is None else ShipmentState.from_json(d["state"]),
            memory=None if d.get("memory") is None else DecisionMemory.from_json(d["memory"]),
            waiting=tuple(u for u in waiting if isinstance(u, messages.EventUpdate)),
            waiting_since=d.get("waiting_since"),
        )


# Sets sorted ("deterministic"), so equal tracks give equal bytes.
_encoder = msgspec.json.Encoder(order="deterministic")
# The tag ("v") must be there to tell a track (2) from a memory (1): with a single type,
# msgspec would take a value without it for that type.
_decoder = msgspec.json.Decoder(Track | DecisionMemory)
