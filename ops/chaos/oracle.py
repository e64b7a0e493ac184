"""SPEC's decision rules evaluated from the input alone, written apart from the agents' code.

What the chaos verifier and the ordering tests compare the pipeline with. It imports nothing
of ``streams.agents``: a bug in the reducer or the rules must not be copied into what checks
them. It reads SPEC ("Decision rules") literally:

- each shipment's events in the order of its input partition; an event id already seen for
  the shipment is a duplicate; every other event is accepted;
- facts from CREATED (non-null fields) whenever it comes; status and the latest hub scan
  follow the greatest occurred_at (an equal time counts as newer);
- after each accepted event, the ETA (latest scan time + the hub's transit hours to the
  destination) and the rules R1..R6 in order; a closed shipment gets no more decisions.

R5 depends on how arrivals of *different* shipments interleave at a hub, which no single
order of the input fixes, so the oracle does not predict which arrivals reroute. It says
which arrivals may (``Arrival.eligible``) and bounds how many reroutes each hub window must
have; the verifier checks the committed ones against that.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

HOUR = 3_600_000
WINDOW = 15 * 60_000
LATE_AFTER = 24 * HOUR
CLOSING = ("DELIVERED", "CANCELLED")
SCANS = ("ARRIVED_HUB", "DEPARTED_HUB")


@dataclass(frozen=True)
class Expected:
    """One decision the rules require: the parts that do not depend on timing."""

    shipment_id: str
    rule: str
    event_id: str
    eta: int | None

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.rule} on {self.event_id} eta={self.eta}"


@dataclass(frozen=True)
class Arrival:
    """An accepted ARRIVED_HUB: may it reroute (R5), and is that certain to be allowed?"""

    shipment_id: str
    event_id: str
    hub: str
    window: int
    #: the shipment is open and the hub has an alternate: R5 fires if its number > capacity
    eligible: bool
    #: the shipment arrived at this hub before: an earlier reroute there may have used R5 up
    repeat: bool


@dataclass
class _Shipment:
    seen: set[str] = field(default_factory=set)
    destination: str | None = None
    promised_at: int | None = None
    service_level: str | None = None
    latest_at: int | None = None
    status: str | None = None
    scan_hub: str | None = None
    scan_at: int | None = None
    closed: bool = False
    # what the rules already did
    codes: set[str] = field(default_factory=set)
    held: bool = False
    expedited: bool = False
    notified_eta: int | None = None
    arrived_hubs: set[str] = field(default_factory=set)


@dataclass
class Oracle:
    """Feed events with :meth:`add` in input order; read ``decisions`` and ``arrivals``."""

    hubs: Mapping[str, Mapping[str, Any]]
    shipments: dict[str, _Shipment] = field(default_factory=dict)
    decisions: list[Expected] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    hub_time: dict[str, int] = field(default_factory=dict)

    def add(self, e: Mapping[str, Any]) -> bool:
        """One valid input event (a dict with SPEC's field names, times in epoch ms)."""
        s = self.shipments.setdefault(e["shipment_id"], _Shipment())
        if e["event_id"] in s.seen:
            self.duplicates += 1
            return False
        s.seen.add(e["event_id"])
        self.accepted += 1
        kind, at = e["event_type"], e["occurred_at"]
        if kind == "CREATED":
            for name in ("destination", "promised_at", "service_level"):
                if e.get(name) is not None:
                    setattr(s, name, e[name])
        if s.latest_at is None or at >= s.latest_at:
            s.latest_at, s.status = at, kind
        if kind in SCANS and (s.scan_at is None or at >= s.scan_at):
            s.scan_hub, s.scan_at = e.get("hub"), at
        eta = self.eta(s)
        if kind == "ARRIVED_HUB" and e.get("hub"):
            self._arrival(s, e)
        if not s.closed:
            self._rules(s, e, eta)
        if kind in CLOSING:
            s.closed = True
        return True

    def _arrival(self, s: _Shipment, e: Mapping[str, Any]) -> None:
        hub, at = e["hub"], e["occurred_at"]
        self.hub_time[hub] = max(self.hub_time.get(hub, at), at)
        alternate = (self.hubs.get(hub) or {}).get("alternate")
        eligible = not s.closed and alternate is not None and alternate != hub
        repeat = hub in s.arrived_hubs
        s.arrived_hubs.add(hub)
        window = at - at % WINDOW
        self.arrivals.append(
            Arrival(e["shipment_id"], e["event_id"], hub, window, eligible, repeat)
        )

    def eta(self, s: _Shipment) -> int | None:
        """Latest hub scan + the hub's transit hours to the destination; None if unknown."""
        if s.scan_hub is None or s.scan_at is None or s.destination is None:
            return None
        hours = (self.hubs.get(s.scan_hub) or {}).get("transit_hours", {}).get(s.destination)
        return None if hours is None else s.scan_at + hours * HOUR

    def _rules(self, s: _Shipment, e: Mapping[str, Any], eta: int | None) -> None:
        sid, eid, kind = e["shipment_id"], e["event_id"], e["event_type"]
        code = e.get("exception_code") if kind == "EXCEPTION" else None

        def take(rule: str) -> None:
            self.decisions.append(Expected(sid, rule, eid, eta))

        if code in ("DAMAGED", "LOST") and code not in s.codes:
            s.codes.add(code)
            take("R1")
        if code == "ADDRESS_ISSUE" and not s.held:
            s.held = True
            take("R2")
        late_for = None if eta is None or s.promised_at is None else eta - s.promised_at
        if s.service_level == "EXPRESS" and not s.expedited and late_for is not None:
            if late_for > 0:
                s.expedited = True
                take("R3")
        standard = s.service_level in (None, "STANDARD")
        if standard and eta is not None and late_for is not None and late_for >= 4 * HOUR:
            if s.notified_eta is None or eta >= s.notified_eta + HOUR:
                s.notified_eta = eta
                take("R4")
        if kind in CLOSING:
            take("R6")

    def reroute_bounds(self) -> dict[tuple[str, int], tuple[int, int]]:
        """(hub, window start) -> the least and most R5 decisions the window may have.

        Every accepted arrival that is not late is numbered in its window, eligible or not; R5
        fires for the eligible ones numbered above capacity. Which ones those are depends on
        timing, hence a range; when every arrival of a window is certainly eligible (not a
        repeat, not possibly late) it is one number. Lateness is judged against the greatest
        arrival time of the hub in the whole input, the latest stream time it can reach.
        """
        groups: dict[tuple[str, int], list[Arrival]] = defaultdict(list)
        for a in self.arrivals:
            groups[(a.hub, a.window)].append(a)
        out: dict[tuple[str, int], tuple[int, int]] = {}
        for (hub, window), items in groups.items():
            capacity = int((self.hubs.get(hub) or {}).get("capacity_per_window", 0))
            over = max(0, len(items) - capacity)
            late = window + WINDOW + LATE_AFTER <= self.hub_time.get(hub, 0)
            certain = 0 if late else sum(a.eligible and not a.repeat for a in items)
            eligible = sum(a.eligible for a in items)
            out[(hub, window)] = (max(0, certain - capacity), min(eligible, over))
        return out


def evaluate(events: Iterable[Mapping[str, Any]], hubs: Mapping[str, Mapping[str, Any]]) -> Oracle:
    """The oracle after every event (valid input, in partition order)."""
    oracle = Oracle(hubs)
    for e in events:
        oracle.add(e)
    return oracle
