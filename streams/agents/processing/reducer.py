"""The state of one shipment and how each event changes it (SPEC "Decision rules", state part).

``apply`` is a pure fold step: ``(state | None, event, hubs) -> Applied``. The processing agent
keeps the returned state in its changelog-backed table, keyed by shipment ID, and forwards the
update to the decision agent. Nothing here knows about Kafka, so replays after a crash go
through exactly the same code and reach exactly the same state.

Semantics:

- an event whose ``event_id`` was already seen for the shipment is a duplicate: the state is
  returned unchanged (counting duplicates is the caller's metric);
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
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from streams.agents.processing.eta import compute_eta
from streams.model import EventType, ExceptionCode, Hub, ServiceLevel, ShipmentEvent

STATE_VERSION = 1
_HUB_SCANS = (EventType.ARRIVED_HUB, EventType.DEPARTED_HUB)
_CLOSING = (EventType.DELIVERED, EventType.CANCELLED)


class Outcome(StrEnum):
    """What ``apply`` did with an event (a metric label too)."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentState:
    """Everything known about one shipment; the value of the shipments table.

    ``seen_event_ids`` holds every applied event id, because dedup must be exact whatever the
    gap between an event and its re-delivery. Cost: ~(id length + ~60 bytes) per event in
    memory and in the changelog, a few KB for a typical shipment of tens of events;
    validation caps ids at 128 characters. Compaction of the changelog keeps only the latest.
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
    seen_event_ids: frozenset[str] = frozenset()
    closed: bool = False
    last_exception_code: ExceptionCode | None = None
    last_exception_at: int | None = None
    eta: int | None = None

    @property
    def event_count(self) -> int:
        """Events applied so far (every applied event adds exactly one id)."""
        return len(self.seen_event_ids)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict for the table; ids sorted so equal states give equal bytes."""
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
            "seen_event_ids": sorted(self.seen_event_ids),
            "event_count": self.event_count,
            "closed": self.closed,
            "last_exception_code": _value(self.last_exception_code),
            "last_exception_at": self.last_exception_at,
            "eta": self.eta,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ShipmentState:
        """Inverse of ``to_json`` (``event_count`` is derived, so it is not read)."""
        sl, status, code = d.get("service_level"), d.get("status"), d.get("last_exception_code")
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
            seen_event_ids=frozenset(d.get("seen_event_ids") or ()),
            closed=bool(d.get("closed", False)),
            last_exception_code=None if code is None else ExceptionCode(code),
            last_exception_at=d.get("last_exception_at"),
            eta=d.get("eta"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    """Result of ``apply``: the outcome, the new state and, when applied, its ETA."""

    outcome: Outcome
    state: ShipmentState
    older: bool = False
    eta: int | None = None


def apply(state: ShipmentState | None, event: ShipmentEvent, hubs: Mapping[str, Hub]) -> Applied:
    """Fold one event into the shipment's state (``None``: the first event of a shipment)."""
    if state is None:
        state = ShipmentState(shipment_id=event.shipment_id)
    elif state.shipment_id != event.shipment_id:
        msg = f"event {event.event_id} of {event.shipment_id} applied to {state.shipment_id}"
        raise ValueError(msg)
    if event.event_id in state.seen_event_ids:
        return Applied(outcome=Outcome.DUPLICATE, state=state, eta=state.eta)

    at = event.occurred_at
    older = state.latest_at is not None and at < state.latest_at
    changes: dict[str, Any] = {"seen_event_ids": state.seen_event_ids | {event.event_id}}
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

    new = replace(state, **changes)
    eta = compute_eta(new.latest_hub, new.latest_hub_at, new.destination, hubs)
    new = replace(new, eta=eta)
    return Applied(outcome=Outcome.APPLIED, state=new, older=older, eta=eta)


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
