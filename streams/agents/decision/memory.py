"""What the decision agent remembers per shipment, so that each decision is taken once.

The memory is a fold over two things: the decisions taken (``remember``) and the events seen
(``observe``, for R7's silences). Deriving it from decisions rather than setting flags inside
the rules keeps one place that says what each rule's "at most" means, and means the memory
could be rebuilt from ``shipments.decisions`` if its table were ever lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import msgspec
from msgspec.structs import replace

from streams.model import Decision, ExceptionCode, ShipmentEvent

MEMORY_VERSION = 1


class Rule(StrEnum):
    """Rule names of SPEC, as written to ``Decision.rule``."""

    R1 = "R1"
    R2 = "R2"
    R3 = "R3"
    R4 = "R4"
    R5 = "R5"
    R6 = "R6"
    R7 = "R7"


class DecisionMemory(msgspec.Struct, frozen=True, kw_only=True, tag_field="v", tag=MEMORY_VERSION):
    """Per-shipment memory of the decision agent; the value of its table."""

    shipment_id: str
    escalated_codes: frozenset[ExceptionCode] = frozenset()  # R1: once per code
    held: bool = False  # R2: once
    expedited: bool = False  # R3: once
    notified_eta: int | None = None  # R4: ETA at the last notification
    rerouted_hubs: frozenset[str] = frozenset()  # R5: once per hub
    closed: bool = False  # R6: closed, nothing more is decided
    last_event_id: str | None = None  # R7: the latest event (greatest occurred_at) ...
    last_event_at: int | None = None  # ... and its time: the silence starts there
    last_eta: int | None = None  # R7: ETA after the latest applied event, for the decision
    stalled_escalated_at: int | None = None  # R7: last_event_at of the silence escalated

    @property
    def silence_escalated(self) -> bool:
        """Whether the current silence (since ``last_event_at``) was already escalated."""
        return self.stalled_escalated_at is not None and (
            self.stalled_escalated_at == self.last_event_at
        )

    def observe(self, event: ShipmentEvent, eta: int | None) -> DecisionMemory:
        """Note an applied event; one newer than the latest starts a new silence (R7).

        A late event (older than the latest) says nothing about progress now, so it does not
        restart the silence; an event at the same time as the latest does not either.
        """
        changes: dict[str, Any] = {"last_eta": eta}
        if self.last_event_at is None or event.occurred_at > self.last_event_at:
            changes.update(last_event_id=event.event_id, last_event_at=event.occurred_at)
        return replace(self, **changes)

    def remember(self, decision: Decision) -> DecisionMemory:
        """The memory after ``decision`` was taken (what its rule's "at most" needs)."""
        rule = Rule(decision.rule)
        if rule is Rule.R1:
            code = ExceptionCode(decision.details["code"])
            return replace(self, escalated_codes=self.escalated_codes | {code})
        if rule is Rule.R2:
            return replace(self, held=True)
        if rule is Rule.R3:
            return replace(self, expedited=True)
        if rule is Rule.R4:
            return replace(self, notified_eta=decision.eta)
        if rule is Rule.R5:
            return replace(self, rerouted_hubs=self.rerouted_hubs | {decision.details["hub"]})
        if rule is Rule.R6:
            return replace(self, closed=True)
        return replace(self, stalled_escalated_at=decision.event_occurred_at)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict for the table; sets sorted so equal memories give equal bytes."""
        return {
            "v": MEMORY_VERSION,
            "shipment_id": self.shipment_id,
            "escalated_codes": sorted(c.value for c in self.escalated_codes),
            "held": self.held,
            "expedited": self.expedited,
            "notified_eta": self.notified_eta,
            "rerouted_hubs": sorted(self.rerouted_hubs),
            "closed": self.closed,
            "last_event_id": self.last_event_id,
            "last_event_at": self.last_event_at,
            "last_eta": self.last_eta,
            "stalled_escalated_at": self.stalled_escalated_at,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> DecisionMemory:
        """Inverse of ``to_json``."""
        return cls(
            shipment_id=d["shipment_id"],
            escalated_codes=frozenset(ExceptionCode(c) for c in d.get("escalated_codes") or ()),
            held=bool(d.get("held", False)),
            expedited=bool(d.get("expedited", False)),
            notified_eta=d.get("notified_eta"),
            rerouted_hubs=frozenset(d.get("rerouted_hubs") or ()),
            closed=bool(d.get("closed", False)),
            last_event_id=d.get("last_event_id"),
            last_event_at=d.get("last_event_at"),
            last_eta=d.get("last_eta"),
            stalled_escalated_at=d.get("stalled_escalated_at"),
        )
