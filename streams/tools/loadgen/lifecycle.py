"""The life of one shipment: a planned, time-ordered list of events over the hub network.

A plan is made in two passes. First the on-time schedule (pickup, hub arrivals on linehaul
waves, dwell, delivery) from which the promise is set: the latest ETA any scan of the plan will
show, plus a service-level margin. Then what goes wrong is laid over it (exceptions, a late
hold-up, a cancellation, a stall), so the promise was made without knowing, exactly as a
carrier makes it. Plans are compact tuples; event dicts are built only when emitted, so
tens of thousands of shipments can be in flight at once.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from streams.tools.loadgen.config import LifecycleConfig
from streams.tools.loadgen.items import Fate
from streams.tools.loadgen.network import Network

HOUR_MS = 3_600_000
MINUTE_MS = 60_000

#: Exception codes of shipments that meet one (not counting late hold-ups), with weights.
EXCEPTION_WEIGHTS = {
    "DELAY": 0.3,
    "WEATHER": 0.2,
    "ADDRESS_ISSUE": 0.2,
    "DAMAGED": 0.2,
    "LOST": 0.1,
}
_EXCEPTION_NOTES = {
    "DELAY": "linehaul departed late",
    "WEATHER": "held for weather",
    "ADDRESS_ISSUE": "address not found",
    "DAMAGED": "package damaged at sort",
    "LOST": "not found at hub",
}
#: Unplanned hours a hub exception holds the parcel (before rounding up to a linehaul wave).
_EXCEPTION_HOLD_HOURS = {"DELAY": (6, 24), "WEATHER": (12, 36), "DAMAGED": (1, 4)}
#: Route length weights (1-4 hubs); express skips stops.
_HUBS_EXPRESS = (1, 2, 2, 3)
_HUBS_STANDARD = (1, 2, 3, 3, 4, 4)


class PlannedEvent(NamedTuple):
    """One event of a plan; compact because many plans are held in memory at once."""

    occurred_at: int
    event_type: str
    hub: str | None = None
    exception_code: str | None = None


@dataclass(slots=True)
class Lifecycle:
    """A shipment's facts and its planned events, oldest first."""

    shipment_id: str
    fate: Fate
    carrier: str
    origin: str
    destination: str
    service_level: str
    promised_at: int
    weight_kg: float
    route: list[str]
    events: list[PlannedEvent] = field(default_factory=list)

    def event(self, seq: int) -> dict[str, Any]:
        """The ``seq``-th event as a ShipmentEvent dict (every field, SPEC names, epoch ms).

        The event id is ``f"{shipment_id}-{seq:02d}"``: unique and stable for a given seed.
        """
        planned = self.events[seq]
        kind = planned.event_type
        created = kind == "CREATED"
        attributes: dict[str, str] = {}
        if created:
            attributes = {"weight_kg": f"{self.weight_kg:.1f}", "pieces": "1"}
        elif planned.exception_code is not None:
            attributes = {"note": _EXCEPTION_NOTES[planned.exception_code]}
        return {
            "event_id": f"{self.shipment_id}-{seq:02d}",
            "shipment_id": self.shipment_id,
            "event_type": kind,
            "occurred_at": planned.occurred_at,
            "source": self._source(planned),
            "carrier": self.carrier,
            "hub": planned.hub,
            "origin": self.origin if created else None,
            "destination": self.destination if created else None,
            "service_level": self.service_level if created else None,
            "promised_at": self.promised_at if created else None,
            "exception_code": planned.exception_code,
            "attributes": attributes,
        }

    def _source(self, planned: PlannedEvent) -> str:
        if planned.event_type in ("CREATED", "CANCELLED"):
            return "warehouse"
        if planned.hub is not None:
            return "tracking"
        return f"carrier:{self.carrier}"


def plan_lifecycle(
    rng: random.Random,
    network: Network,
    config: LifecycleConfig,
    shipment_id: str,
    created_at: int,
) -> Lifecycle:
    """Plan one shipment created at ``created_at`` (epoch ms); all randomness from ``rng``."""
    express = rng.random() < config.p_express
    origin, destination = network.pick_regions(rng)
    names = [name for name, _ in config.carriers]
    carrier = rng.choices(names, weights=[w for _, w in config.carriers])[0]
    route = network.route(
        rng, origin, destination, rng.choice(_HUBS_EXPRESS if express else _HUBS_STANDARD)
    )
    events = _on_time_schedule(rng, network, config, route, destination, created_at, express)
    latest_eta = max(
        e.occurred_at + network.transit_hours(str(e.hub), destination) * HOUR_MS
        for e in events
        if is_hub_scan(e)
    )
    margin = (1 if express else 6) * HOUR_MS
    promised_at = math.ceil((latest_eta + margin) / HOUR_MS) * HOUR_MS
    life = Lifecycle(
        shipment_id=shipment_id,
        fate=_pick_fate(rng, config),
        carrier=carrier,
        origin=origin,
        destination=destination,
        service_level="EXPRESS" if express else "STANDARD",
        promised_at=promised_at,
        weight_kg=round(rng.lognormvariate(1.0, 0.8), 1) + 0.1,
        route=route,
        events=events,
    )
    _disrupt(rng, network, config, life)
    _strictly_increasing(life)
    return life


def _strictly_increasing(life: Lifecycle) -> None:
    """Nudge ties apart by a second, so "the event with the greatest occurred_at" is one event."""
    last = -1
    for i, e in enumerate(life.events):
        if e.occurred_at <= last:
            life.events[i] = e._replace(occurred_at=last + 1000)
        last = life.events[i].occurred_at


def is_hub_scan(event: PlannedEvent) -> bool:
    """Whether the event is one the pipeline's ETA is computed from (SPEC: latest hub scan)."""
    return event.event_type in ("ARRIVED_HUB", "DEPARTED_HUB")


def _pick_fate(rng: random.Random, config: LifecycleConfig) -> Fate:
    u = rng.random()
    for fate, p in (
        (Fate.CANCELLED, config.p_cancel),
        (Fate.STALLED, config.p_stall),
        (Fate.LATE, config.p_late),
    ):
        if u < p:
            return fate
        u -= p
    return Fate.DELIVERED


def _hours(rng: random.Random, low: float, high: float) -> int:
    return int(rng.uniform(low, high) * HOUR_MS)


def _on_wave(rng: random.Random, t: int, wave_ms: int) -> int:
    """The next linehaul wave at or after ``t``, scanned in its first 12 minutes."""
    return math.ceil(t / wave_ms) * wave_ms + rng.randrange(12 * MINUTE_MS)


def _on_time_schedule(
    rng: random.Random,
    network: Network,
    config: LifecycleConfig,
    route: list[str],
    destination: str,
    created_at: int,
    express: bool,
) -> list[PlannedEvent]:
    wave_ms = config.wave_hours * HOUR_MS
    events = [PlannedEvent(created_at, "CREATED")]
    t = created_at + (_hours(rng, 0.5, 3) if express else _hours(rng, 1, 8))
    events.append(PlannedEvent(t, "PICKED_UP"))
    arrival = _on_wave(rng, t + _hours(rng, 1, 5), wave_ms)
    departure = arrival
    for i, hub in enumerate(route):
        events.append(PlannedEvent(arrival, "ARRIVED_HUB", hub))
        departure = arrival + (_hours(rng, 1, 3) if express else _hours(rng, 2, 8))
        events.append(PlannedEvent(departure, "DEPARTED_HUB", hub))
        if i + 1 < len(route):
            gap = network.transit_hours(hub, destination) - network.transit_hours(
                route[i + 1], destination
            )
            travel = max(HOUR_MS, int(gap * rng.uniform(0.5, 0.85) * HOUR_MS))
            arrival = _on_wave(rng, departure + travel, wave_ms)
    span = int(network.transit_hours(route[-1], destination) * rng.uniform(0.5, 0.9) * HOUR_MS)
    delivered = departure + max(span, 2 * HOUR_MS)
    out_for_delivery = delivered - _hours(rng, 0.5, 1.5)
    events.append(PlannedEvent(out_for_delivery, "OUT_FOR_DELIVERY"))
    events.append(PlannedEvent(delivered, "DELIVERED"))
    return events


def _disrupt(
    rng: random.Random, network: Network, config: LifecycleConfig, life: Lifecycle
) -> None:
    """Lay exceptions, a late hold-up, a cancellation or a stall over the on-time plan."""
    wave_ms = config.wave_hours * HOUR_MS
    if life.fate is Fate.CANCELLED:
        kept = life.events[: 2 if rng.random() < 0.5 else 1]
        kept.append(PlannedEvent(kept[-1].occurred_at + _hours(rng, 1, 24), "CANCELLED"))
        life.events = kept
        return
    if rng.random() < config.p_exception:
        codes = list(EXCEPTION_WEIGHTS)
        code = rng.choices(codes, weights=list(EXCEPTION_WEIGHTS.values()))[0]
        if code == "ADDRESS_ISSUE":
            _address_issue(rng, life)
        else:
            arrival = rng.choice([e for e in life.events if e.event_type == "ARRIVED_HUB"])
            _hub_exception(rng, life, arrival, code, wave_ms)
            if code == "LOST":
                life.fate = Fate.LOST
    if life.fate is Fate.LATE:
        _hold_up(rng, network, life, wave_ms)
    if life.fate is Fate.STALLED:
        # Keep at least CREATED and PICKED_UP; drop at least the terminal event.
        life.events = life.events[: rng.randint(2, len(life.events) - 1)]


def _shift_from(life: Lifecycle, since: int, delay: int) -> None:
    life.events = [
        e._replace(occurred_at=e.occurred_at + delay) if e.occurred_at >= since else e
        for e in life.events
    ]


def _insert(life: Lifecycle, event: PlannedEvent) -> None:
    life.events.append(event)
    life.events.sort(key=lambda e: e.occurred_at)


def _departure_after(life: Lifecycle, arrival: PlannedEvent) -> PlannedEvent:
    return next(
        e
        for e in life.events
        if e.event_type == "DEPARTED_HUB"
        and e.hub == arrival.hub
        and e.occurred_at > arrival.occurred_at
    )


def _hub_exception(
    rng: random.Random, life: Lifecycle, arrival: PlannedEvent, code: str, wave_ms: int
) -> None:
    """An exception scanned during the dwell at a hub; it holds the parcel there, or loses it."""
    scanned = arrival.occurred_at + rng.randrange(10 * MINUTE_MS, 50 * MINUTE_MS)
    if code == "LOST":
        life.events = [e for e in life.events if e.occurred_at <= arrival.occurred_at]
        life.events.append(PlannedEvent(scanned, "EXCEPTION", arrival.hub, code))
        return
    low, high = _EXCEPTION_HOLD_HOURS[code]
    # Whole waves, so later arrivals stay on their hub's linehaul schedule.
    hold = math.ceil(_hours(rng, low, high) / wave_ms) * wave_ms
    _shift_from(life, _departure_after(life, arrival).occurred_at, hold)
    _insert(life, PlannedEvent(scanned, "EXCEPTION", arrival.hub, code))


def _address_issue(rng: random.Random, life: Lifecycle) -> None:
    """The driver cannot deliver; another attempt the next day succeeds (R2 holds meanwhile)."""
    out = next(e for e in life.events if e.event_type == "OUT_FOR_DELIVERY")
    delivered = life.events[-1]
    _shift_from(life, delivered.occurred_at, 24 * HOUR_MS)
    _insert(
        life,
        PlannedEvent(out.occurred_at + _hours(rng, 0.5, 3), "EXCEPTION", None, "ADDRESS_ISSUE"),
    )
    _insert(life, PlannedEvent(out.occurred_at + 24 * HOUR_MS, "OUT_FOR_DELIVERY"))


def _hold_up(rng: random.Random, network: Network, life: Lifecycle, wave_ms: int) -> None:
    """Hold the parcel at one hub long enough that its ETA passes promised_at + 4 h + 1 h.

    That is past both R3's (ETA > promise) and R4's (ETA >= promise + 4 h) thresholds, so the
    rule for its service level fires however the other delays fell.
    """
    departures = [e for e in life.events if e.event_type == "DEPARTED_HUB"]
    if not departures:
        return
    departure = rng.choice(departures)
    # Every scan from the hold on moves by the same amount, so the lowest ETA among them
    # decides how long the hold must be for all of them to be late.
    lowest_eta = min(
        e.occurred_at + network.transit_hours(str(e.hub), life.destination) * HOUR_MS
        for e in life.events
        if is_hub_scan(e) and e.occurred_at >= departure.occurred_at
    )
    needed = life.promised_at + 5 * HOUR_MS - lowest_eta
    hold = max(needed, 0) + _hours(rng, 0, 18)
    hold = math.ceil(hold / wave_ms) * wave_ms
    _shift_from(life, departure.occurred_at, hold)
    if rng.random() < 0.5:
        code = rng.choice(["DELAY", "WEATHER"])
        scanned = departure.occurred_at - rng.randrange(5 * MINUTE_MS, 30 * MINUTE_MS)
        _insert(life, PlannedEvent(scanned, "EXCEPTION", departure.hub, code))
