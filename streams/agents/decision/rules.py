"""Rules R1-R7 of SPEC: which decisions an update leads to, each taken at most as allowed.

``evaluate`` runs R1..R6 in order after each applied event; ``stalled`` is R7, which no event
triggers: the decision agent calls it from a timer (at least every 10 s) with the stream time
of the shipment's partition. Both are pure: ``decided_at`` (wall clock) is passed in and is
never part of a decision id, so a replay produces the same decisions with the same ids.

A shipment is closed for decisions once R6 has closed it (``memory.closed``), or when the
snapshot says closed and the event is not itself a closing one (memory lost or rebuilt): then
nothing more is decided, R7 included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from streams.agents.decision.ids import decision_id
from streams.agents.decision.memory import DecisionMemory, Rule
from streams.agents.processing.reducer import ShipmentState
from streams.model import (
    Action,
    Decision,
    EventType,
    ExceptionCode,
    ServiceLevel,
    ShipmentEvent,
    ms_to_iso,
)

HOUR_MS = 3_600_000
R4_LATE_MS = 4 * HOUR_MS  # R4 fires when the ETA is at least this much past the promise
R4_STEP_MS = HOUR_MS  # and again only when the ETA slipped at least this much further
R7_SILENCE_MS = 48 * HOUR_MS
_R1_CODES = (ExceptionCode.DAMAGED, ExceptionCode.LOST)
_CLOSING = (EventType.DELIVERED, EventType.CANCELLED)


class Update(msgspec.Struct, frozen=True, kw_only=True):
    """An applied event with what the rules need to decide on it.

    ``state`` is the shipment's state after the event; for ARRIVED_HUB, ``arrival_k`` is the
    event's number in its hub window, with the hub's capacity and alternate when known.
    """

    event: ShipmentEvent
    state: ShipmentState
    older: bool = False
    arrival_k: int | None = None
    hub_capacity: int | None = None
    hub_alternate: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict for the internal updates topic."""
        return {
            "event": self.event.to_json(),
            "state": self.state.to_json(),
            "older": self.older,
            "arrival_k": self.arrival_k,
            "hub_capacity": self.hub_capacity,
            "hub_alternate": self.hub_alternate,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Update:
        """Inverse of ``to_json``."""
        return cls(
            event=ShipmentEvent.from_json(d["event"]),
            state=ShipmentState.from_json(d["state"]),
            older=bool(d.get("older", False)),
            arrival_k=d.get("arrival_k"),
            hub_capacity=d.get("hub_capacity"),
            hub_alternate=d.get("hub_alternate"),
        )


def evaluate(
    update: Update, memory: DecisionMemory | None, decided_at: int
) -> tuple[list[Decision], DecisionMemory]:
    """Decisions for one applied event, in rule order, and the memory after them."""
    event, state = update.event, update.state
    if memory is None:
        memory = DecisionMemory(shipment_id=event.shipment_id)
    memory = memory.observe(event, state.eta)
    if memory.closed or (state.closed and event.event_type not in _CLOSING):
        return [], memory
    decisions: list[Decision] = []
    for rule in _EVENT_RULES:
        draft = rule(update, memory)
        if draft is not None:
            decision = draft.build(update, decided_at)
            decisions.append(decision)
            memory = memory.remember(decision)
    return decisions, memory


def stalled(memory: DecisionMemory, stream_time_ms: int, decided_at: int) -> Decision | None:
    """R7: ESCALATE when the shipment had no event for 48 h of stream time, once per silence.

    The caller stores ``memory.remember(decision)``; a newer event re-arms R7 (``observe``).
    """
    last_at, last_id = memory.last_event_at, memory.last_event_id
    if memory.closed or last_at is None or last_id is None or memory.silence_escalated:
        return None
    silent_ms = stream_time_ms - last_at
    if silent_ms < R7_SILENCE_MS:
        return None
    return Decision(
        decision_id=decision_id(memory.shipment_id, Rule.R7, str(last_at)),
        shipment_id=memory.shipment_id,
        action=Action.ESCALATE,
        rule=Rule.R7.value,
        reason="stalled",
        based_on_event_id=last_id,
        event_occurred_at=last_at,
        decided_at=decided_at,
        eta=memory.last_eta,
        details={
            "last_event_at": ms_to_iso(last_at),
            "stream_time": ms_to_iso(stream_time_ms),
            "silent_hours": str(silent_ms // HOUR_MS),
        },
    )


@dataclass(frozen=True, slots=True)
class _Draft:
    """A decision before the parts common to every rule are filled in."""

    rule: Rule
    action: Action
    reason: str
    discriminator: str = ""
    target_hub: str | None = None
    details: Mapping[str, str] | None = None

    def build(self, update: Update, decided_at: int) -> Decision:
        event = update.event
        return Decision(
            decision_id=decision_id(event.shipment_id, self.rule, self.discriminator),
            shipment_id=event.shipment_id,
            action=self.action,
            rule=self.rule.value,
            reason=self.reason,
            based_on_event_id=event.event_id,
            event_occurred_at=event.occurred_at,
            decided_at=decided_at,
            eta=update.state.eta,
            target_hub=self.target_hub,
            details={"event_type": event.event_type.value, **(self.details or {})},
        )


def _r1_escalate_exception(u: Update, m: DecisionMemory) -> _Draft | None:
    code = u.event.exception_code
    if u.event.event_type is not EventType.EXCEPTION or code not in _R1_CODES:
        return None
    if code is None or code in m.escalated_codes:
        return None
    reason = f"shipment reported {code.value.lower()}"
    return _Draft(Rule.R1, Action.ESCALATE, reason, code.value, details={"code": code.value})


def _r2_hold_address(u: Update, m: DecisionMemory) -> _Draft | None:
    code = u.event.exception_code
    if u.event.event_type is not EventType.EXCEPTION or code is not ExceptionCode.ADDRESS_ISSUE:
        return None
    if m.held:
        return None
    reason = "address issue: hold until the address is corrected"
    return _Draft(Rule.R2, Action.HOLD, reason, details={"code": code.value})


def _r3_expedite_express(u: Update, m: DecisionMemory) -> _Draft | None:
    s = u.state
    if s.service_level is not ServiceLevel.EXPRESS or m.expedited:
        return None
    if s.eta is None or s.promised_at is None or not s.eta > s.promised_at:
        return None
    reason = "express shipment expected after its promised time"
    return _Draft(Rule.R3, Action.EXPEDITE, reason, details=_lateness(s.eta, s.promised_at))


def _r4_notify_late(u: Update, m: DecisionMemory) -> _Draft | None:
    s = u.state
    if s.service_level not in (ServiceLevel.STANDARD, None):
        return None
    if s.eta is None or s.promised_at is None or s.eta < s.promised_at + R4_LATE_MS:
        return None
    if m.notified_eta is not None and s.eta < m.notified_eta + R4_STEP_MS:
        return None
    details = _lateness(s.eta, s.promised_at)
    if m.notified_eta is None:
        reason = "shipment expected 4 h or more after its promised time"
    else:
        reason = "expected delivery slipped by another hour or more since the last notice"
        details["previous_eta"] = ms_to_iso(m.notified_eta)
    return _Draft(Rule.R4, Action.NOTIFY_CUSTOMER, reason, str(s.eta), details=details)


def _r5_reroute_over_capacity(u: Update, m: DecisionMemory) -> _Draft | None:
    hub, k, cap, alt = u.event.hub, u.arrival_k, u.hub_capacity, u.hub_alternate
    if u.event.event_type is not EventType.ARRIVED_HUB or hub is None or hub in m.rerouted_hubs:
        return None
    # An alternate equal to the hub itself would reroute to the same overloaded place.
    if k is None or cap is None or alt is None or alt == hub or not k > cap:
        return None
    reason = f"hub {hub} over capacity: arrival {k} of at most {cap} in its 15-minute window"
    details = {"hub": hub, "k": str(k), "capacity": str(cap), "alternate": alt}
    return _Draft(Rule.R5, Action.REROUTE, reason, hub, target_hub=alt, details=details)


def _r6_close(u: Update, m: DecisionMemory) -> _Draft | None:
    if u.event.event_type not in _CLOSING or m.closed:
        return None
    return _Draft(Rule.R6, Action.CLOSE, f"shipment {u.event.event_type.value.lower()}")


def _lateness(eta: int, promised_at: int) -> dict[str, str]:
    return {
        "eta": ms_to_iso(eta),
        "promised_at": ms_to_iso(promised_at),
        "late_by_minutes": str((eta - promised_at) // 60_000),
    }


_EVENT_RULES = (
    _r1_escalate_exception,
    _r2_hold_address,
    _r3_expedite_express,
    _r4_notify_late,
    _r5_reroute_over_capacity,
    _r6_close,
)
