"""The state of one shipment and how each event changes it (SPEC "Decision rules", state part).

``apply`` is a pure fold step: ``(state | None, event, hubs) -> Applied``. The processing agent
keeps the returned state in its changelog-backed table, keyed by shipment ID, and forwards the
update to the decision agent. Nothing here knows about Kafka, so replays after a crash go
through exactly the same code and reach exactly the same state.

Semantics:

- an event whose ``event_id`` is among the shipment's last ``DEDUP_WINDOW`` accepted ids is a
  duplicate: the state is returned unchanged (counting duplicates is the caller's metric);
- every accepted event gets the next ``seq`` of its shipment (1, 2, ...): the order processing
  applied it, which the decision role restores after the hub detour (``streams.messages``);
- an older event (``occurred_at`` below ``latest_at``) is accepted: it adds to history and to
  the CREATED facts, but leaves ``status`` alone;
- the latest hub scan is the ARRIVED_HUB/DEPARTED_HUB scan with the greatest ``occurred_at``
  (SPEC's definition), so a late scan older than the current one never moves it back. A late
  scan newer than the current scan but older than the shipment's latest event does move it:
  that keeps the state independent of arrival order (see ``_newer_scan``);
- CREATED facts are applied whenever CREATED arrives, even after scans; a null field of a
  CREATED never erases a fact already known;
- DELIVERED and CANCELLED close the shipment. Events after that are still applied (they are
  facts, and SPEC counts every record as applied, duplicate or dead-lettered); it is the rules
  that stop deciding for a closed shipment;
- after every applied event the ETA is recomputed from the current hubs (``eta.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import msgspec
from msgspec.structs import replace

from streams.agents.processing.eta import compute_eta
from streams.model import EventType, ExceptionCode, Hub, ServiceLevel, ShipmentEvent

STATE_VERSION = 2
#: Accepted event ids kept per shipment for dedup. Bounded so that a shipment's state (written
#: on every event) cannot grow without end; a re-delivery more than this many accepted events
#: later would be applied again. A real shipment has tens of events.
DEDUP_WINDOW = 512
_HUB_SCANS = (EventType.ARRIVED_HUB, EventType.DEPARTED_HUB)
_CLOSING = (EventType.DELIVERED, EventType.CANCELLED)


class Outcome(StrEnum):
    """What ``apply`` did with an event (a metric label too)."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"


class ShipmentState(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag_field="v",
    tag=STATE_VERSION,
    rename={"recent_ids": "seen_event_ids", "seq": "event_count"},
):
    """Everything known about one shipment; the value of the shipments table.

    ``recent_ids`` holds the last ``DEDUP_WINDOW`` accepted event ids in the order they were
    accepted, so ``seq_of`` can tell a replayed event its original ``seq``; ``seq`` counts
    every accepted event. The decision role keeps the same state without ids (``fold``).
    """

    shipment_id: str
    created_seen: bool = False
    origin: str | None = None
    destination: str | None = None
    promised_at: int | None = None
    service_level: ServiceLevel | None = None
    carrier: str | None = None
    status: EventType | None = None
    latest_at: int | None = None
    latest_hub: str | None = None
    latest_hub_at: int | None = None
    recent_ids: tuple[str, ...] = ()
    seq: int = 0
    closed: bool = False
    last_exception_code: ExceptionCode | None = None
    last_exception_at: int | None = None
    eta: int | None = None

    @property
    def event_count(self) -> int:
        """Events applied so far."""
        return self.seq

    def seq_of(self, event_id: str) -> int | None:
        """The ``seq`` the event got when it was accepted (None: not among the recent ids)."""
        try:
            index = self.recent_ids.index(event_id)
        except ValueError:
            return None
        return self.seq - len(self.recent_ids) + index + 1

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict for the table (ids in the order they were accepted)."""
        return {
            "v": STATE_VERSION,
            "shipment_id": self.shipment_id,
            "created_seen": self.created_seen,
            "origin": self.origin,
            "destination": self.destination,
            "promised_at": self.promised_at,
            "service_level": _value(self.service_level),
            "carrier": self.carrier,
            "status": _value(self.status),
            "latest_at": self.latest_at,
            "latest_hub": self.latest_hub,
            "latest_hub_at": self.latest_hub_at,
            "seen_event_ids": list(self.recent_ids),
            "event_count": self.seq,
            "closed": self.closed,
            "last_exception_code": _value(self.last_exception_code),
            "last_exception_at": self.last_exception_at,
            "eta": self.eta,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ShipmentState:
        """Inverse of ``to_json``."""
        sl, status, code = d.get("service_level"), d.get("status"), d.get("last_exception_code")
        ids = tuple(d.get("seen_event_ids") or ())
        return cls(
            shipment_id=d["shipment_id"],
            created_seen=bool(d.get("created_seen", False)),
            origin=d.get("origin"),
            destination=d.get("destination"),
            promised_at=d.get("promised_at"),
            service_level=None if sl is None else ServiceLevel(sl),
            carrier=d.get("carrier"),
            status=None if status is None else EventType(status),
            latest_at=d.get("latest_at"),
            latest_hub=d.get("latest_hub"),
            latest_hub_at=d.get("latest_hub_at"),
            recent_ids=ids,
            seq=int(d.get("event_count") or len(ids)),
            closed=bool(d.get("closed", False)),
            last_exception_code=None if code is None else ExceptionCode(code),
            last_exception_at=d.get("last_exception_at"),
            eta=d.get("eta"),
        )


class Applied(msgspec.Struct, frozen=True, kw_only=True):
    """Result of ``apply``: the outcome, the new state and, when applied, its ETA."""

    outcome: Outcome
    state: ShipmentState
    older: bool = False
    eta: int | None = None


def apply(state: ShipmentState | None, event: ShipmentEvent, hubs: Mapping[str, Hub]) -> Applied:
    """Dedup, then fold one event (``None``: the first event of a shipment)."""
    if state is None:
        state = ShipmentState(shipment_id=event.shipment_id)
    if event.event_id in state.recent_ids:
        return Applied(outcome=Outcome.DUPLICATE, state=state, eta=state.eta)
    new, older = fold(state, event, hubs)
    ids = (*state.recent_ids[-(DEDUP_WINDOW - 1) :], event.event_id)
    new = replace(new, recent_ids=ids, seq=state.seq + 1)
    return Applied(outcome=Outcome.APPLIED, state=new, older=older, eta=new.eta)


def fold(
    state: ShipmentState | None, event: ShipmentEvent, hubs: Mapping[str, Hub]
) -> tuple[ShipmentState, bool]:
    """The state after an accepted event, and whether the event was older than the latest.

    No dedup and no ids: the decision role folds the updates processing already accepted.
    """
    if state is None:
        state = ShipmentState(shipment_id=event.shipment_id)
    elif state.shipment_id != event.shipment_id:
        msg = f"event {event.event_id} of {event.shipment_id} applied to {state.shipment_id}"
        raise ValueError(msg)
    at = event.occurred_at
    older = state.latest_at is not None and at < state.latest_at
    changes: dict[str, Any] = {}
    if not older:
        changes.update(status=event.event_type, latest_at=at)
    if event.event_type is EventType.CREATED:
        changes.update(_created_facts(event), created_seen=True)
    if event.event_type in _HUB_SCANS and _newer_scan(state, at):
        changes.update(latest_hub=event.hub, latest_hub_at=at)
    if event.event_type is EventType.EXCEPTION and _newer(state.last_exception_at, at):
        changes.update(last_exception_code=event.exception_code, last_exception_at=at)
    if event.event_type in _CLOSING:
        changes.update(closed=True)

    changes["eta"] = compute_eta(
        changes.get("latest_hub", state.latest_hub),
        changes.get("latest_hub_at", state.latest_hub_at),
        changes.get("destination", state.destination),
        hubs,
    )
    return replace(state, **changes), older


def _newer_scan(state: ShipmentState, at: int) -> bool:
    """Whether a hub scan at ``at`` becomes the latest hub scan.

    SPEC defines the latest hub scan as the scan with the greatest occurred_at. Comparing with
    the latest *scan* (not the latest event) is what makes that true whatever the arrival
    order; a scan older than the current scan is "older" in both readings and never wins.
    """
    return _newer(state.latest_hub_at, at)


def _newer(current: int | None, at: int) -> bool:
    # Ties go to the later arrival, as for status: equal is not "older".
    return current is None or at >= current


def _created_facts(event: ShipmentEvent) -> dict[str, Any]:
    facts = {
        "origin": event.origin,
        "destination": event.destination,
        "promised_at": event.promised_at,
        "service_level": event.service_level,
        "carrier": event.carrier,
    }
    return {name: value for name, value in facts.items() if value is not None}


def _value(member: StrEnum | None) -> str | None:
    return None if member is None else member.value
