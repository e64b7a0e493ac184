"""The domain types of SPEC, one per Avro contract, with their Avro and JSON dict forms.

Inside the domain every timestamp is an ``int`` of epoch milliseconds UTC: it is what the
wire carries (``timestamp-millis``), it orders and hashes cheaply, and it cannot be naive.
Conversion happens only at the edges, here (``from_avro``) and in ingestion validation.

Field names and enum symbols are the contract of ``schemas/*.avsc``; keep them exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


class EventType(StrEnum):
    """Lifecycle step of a shipment (Avro enum ``EventType``)."""

    CREATED = "CREATED"
    PICKED_UP = "PICKED_UP"
    ARRIVED_HUB = "ARRIVED_HUB"
    DEPARTED_HUB = "DEPARTED_HUB"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    EXCEPTION = "EXCEPTION"
    CANCELLED = "CANCELLED"


class ServiceLevel(StrEnum):
    """Promised speed of a shipment (Avro enum ``ServiceLevel``)."""

    STANDARD = "STANDARD"
    EXPRESS = "EXPRESS"


class ExceptionCode(StrEnum):
    """Why an EXCEPTION event happened (Avro enum ``ExceptionCode``)."""

    DELAY = "DELAY"
    DAMAGED = "DAMAGED"
    ADDRESS_ISSUE = "ADDRESS_ISSUE"
    LOST = "LOST"
    WEATHER = "WEATHER"


class Action(StrEnum):
    """What a decision asks the outside world to do (Avro enum ``Action``)."""

    EXPEDITE = "EXPEDITE"
    REROUTE = "REROUTE"
    HOLD = "HOLD"
    NOTIFY_CUSTOMER = "NOTIFY_CUSTOMER"
    ESCALATE = "ESCALATE"
    CLOSE = "CLOSE"


class ActionStatus(StrEnum):
    """Outcome of delivering a decision (Avro enum ``ActionStatus``)."""

    DELIVERED = "DELIVERED"
    DUPLICATE = "DUPLICATE"
    FAILED_PERMANENT = "FAILED_PERMANENT"
    FAILED_EXHAUSTED = "FAILED_EXHAUSTED"


def to_epoch_ms(value: datetime | int) -> int:
    """Epoch milliseconds of an aware datetime (what fastavro reads) or of an int (kept).

    Naive datetimes are refused rather than guessed: a wrong zone would silently shift every
    ETA. ``bool`` is refused too, although Python treats it as an ``int``.
    """
    if isinstance(value, bool):
        msg = "a timestamp must be an int of epoch ms or an aware datetime, not a bool"
        raise TypeError(msg)
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            msg = f"naive datetime {value.isoformat()} has no zone; give it one (UTC)"
            raise ValueError(msg)
        # Integer arithmetic: float timestamps lose milliseconds far from 1970.
        return (value - EPOCH) // _ONE_MS
    msg = f"a timestamp must be an int of epoch ms or an aware datetime, got {type(value)}"
    raise TypeError(msg)


def ms_to_iso(ms: int) -> str:
    """ISO-8601 UTC text of epoch milliseconds, for humans (logs, decision details)."""
    return (
        (EPOCH + timedelta(milliseconds=ms))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _opt_ms(value: datetime | int | None) -> int | None:
    return None if value is None else to_epoch_ms(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentEvent:
    """One event of a shipment's lifecycle (``shipments.events``)."""

    event_id: str
    shipment_id: str
    event_type: EventType
    occurred_at: int
    source: str
    carrier: str | None = None
    hub: str | None = None
    origin: str | None = None
    destination: str | None = None
    service_level: ServiceLevel | None = None
    promised_at: int | None = None
    exception_code: ExceptionCode | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)

    def to_avro(self) -> dict[str, Any]:
        """The dict fastavro writes: enums as symbols, timestamps as int ms."""
        return {
            "event_id": self.event_id,
            "shipment_id": self.shipment_id,
            "event_type": self.event_type.value,
            "occurred_at": self.occurred_at,
            "source": self.source,
            "carrier": self.carrier,
            "hub": self.hub,
            "origin": self.origin,
            "destination": self.destination,
            "service_level": None if self.service_level is None else self.service_level.value,
            "promised_at": self.promised_at,
            "exception_code": (None if self.exception_code is None else self.exception_code.value),
            "attributes": dict(self.attributes),
        }

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> ShipmentEvent:
        """Build from what fastavro reads (aware datetimes) or from ``to_avro``/JSON (ints)."""
        sl, code = d.get("service_level"), d.get("exception_code")
        return cls(
            event_id=d["event_id"],
            shipment_id=d["shipment_id"],
            event_type=EventType(d["event_type"]),
            occurred_at=to_epoch_ms(d["occurred_at"]),
            source=d["source"],
            carrier=d.get("carrier"),
            hub=d.get("hub"),
            origin=d.get("origin"),
            destination=d.get("destination"),
            service_level=None if sl is None else ServiceLevel(sl),
            promised_at=_opt_ms(d.get("promised_at")),
            exception_code=None if code is None else ExceptionCode(code),
            attributes=dict(d.get("attributes") or {}),
        )

    # The Avro dict holds only JSON types, so the JSON form (internal topics, tables) is it.
    to_json = to_avro
    from_json = from_avro


@dataclass(frozen=True, slots=True, kw_only=True)
class Hub:
    """A hub of the network (``reference.hubs``, keyed by code)."""

    code: str
    region: str
    capacity_per_window: int
    alternate: str | None = None
    transit_hours: Mapping[str, int] = field(default_factory=dict)

    def to_avro(self) -> dict[str, Any]:
        """The dict fastavro writes."""
        return {
            "code": self.code,
            "region": self.region,
            "capacity_per_window": self.capacity_per_window,
            "alternate": self.alternate,
            "transit_hours": dict(self.transit_hours),
        }

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> Hub:
        """Build from what fastavro reads (or from ``to_avro``)."""
        return cls(
            code=d["code"],
            region=d["region"],
            capacity_per_window=int(d["capacity_per_window"]),
            alternate=d.get("alternate"),
            transit_hours={str(k): int(v) for k, v in (d.get("transit_hours") or {}).items()},
        )

    to_json = to_avro
    from_json = from_avro


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """A decision taken by a rule (``shipments.decisions``)."""

    decision_id: str
    shipment_id: str
    action: Action
    rule: str
    reason: str
    based_on_event_id: str
    event_occurred_at: int
    decided_at: int
    eta: int | None = None
    target_hub: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)

    def to_avro(self) -> dict[str, Any]:
        """The dict fastavro writes."""
        return {
            "decision_id": self.decision_id,
            "shipment_id": self.shipment_id,
            "action": self.action.value,
            "rule": self.rule,
            "reason": self.reason,
            "based_on_event_id": self.based_on_event_id,
            "event_occurred_at": self.event_occurred_at,
            "decided_at": self.decided_at,
            "eta": self.eta,
            "target_hub": self.target_hub,
            "details": dict(self.details),
        }

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> Decision:
        """Build from what fastavro reads (or from ``to_avro``)."""
        return cls(
            decision_id=d["decision_id"],
            shipment_id=d["shipment_id"],
            action=Action(d["action"]),
            rule=d["rule"],
            reason=d["reason"],
            based_on_event_id=d["based_on_event_id"],
            event_occurred_at=to_epoch_ms(d["event_occurred_at"]),
            decided_at=to_epoch_ms(d["decided_at"]),
            eta=_opt_ms(d.get("eta")),
            target_hub=d.get("target_hub"),
            details=dict(d.get("details") or {}),
        )

    to_json = to_avro
    from_json = from_avro


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionResult:
    """Outcome of delivering one decision to its endpoint (``shipments.actions``)."""

    decision_id: str
    shipment_id: str
    action: Action
    endpoint: str
    status: ActionStatus
    attempts: int
    http_status: int | None = None
    completed_at: int
    error: str | None = None

    def to_avro(self) -> dict[str, Any]:
        """The dict fastavro writes."""
        return {
            "decision_id": self.decision_id,
            "shipment_id": self.shipment_id,
            "action": self.action.value,
            "endpoint": self.endpoint,
            "status": self.status.value,
            "attempts": self.attempts,
            "http_status": self.http_status,
            "completed_at": self.completed_at,
            "error": self.error,
        }

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> ActionResult:
        """Build from what fastavro reads (or from ``to_avro``)."""
        return cls(
            decision_id=d["decision_id"],
            shipment_id=d["shipment_id"],
            action=Action(d["action"]),
            endpoint=d["endpoint"],
            status=ActionStatus(d["status"]),
            attempts=int(d["attempts"]),
            http_status=d.get("http_status"),
            completed_at=to_epoch_ms(d["completed_at"]),
            error=d.get("error"),
        )

    to_json = to_avro
    from_json = from_avro
