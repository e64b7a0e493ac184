"""Processing role: Faust wiring around the pure reducer and hub-window counter.

``shipments.events`` is read as raw bytes so that every record, decodable or not, ends in
exactly one place: applied to the ``shipments`` table, counted as a duplicate, or written to
the DLQ with its reason. Agent concurrency stays at 1: with more, faust can commit an offset
past an event still in flight (faust-streaming #606) and a crash would lose it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faust import web as fweb
from faust.types import EventT, StreamT

from streams import topics as cat
from streams.agents.decision import rules
from streams.agents.ingestion.validation import ValidationError, validate_event
from streams.agents.processing import reducer
from streams.agents.processing.windows import HubWindowCounts
from streams.errors import DecodeError, Reason, ServiceUnavailable
from streams.model import EventType, ShipmentEvent
from streams.pipeline import INGESTED_AT_HEADER, Pipeline
from tables import hub_windows, hubs, shipments

log = logging.getLogger(__name__)

STAGE = "processing"
#: Offset of the input record that last changed a shipment, kept beside its state in the table
#: so that a replayed record (offset at or below it) is told from a real duplicate (after it).
APPLIED_OFFSET = "applied_offset"
REGISTRY_RETRY_S = 2.0


def header(event: EventT, name: str) -> str | None:
    """A header of the event's message as text (faust gives a list or a mapping)."""
    headers: Any = event.message.headers or ()
    items = headers.items() if hasattr(headers, "items") else headers
    for key, value in items:
        if key == name and value is not None:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def register(p: Pipeline) -> None:
    """Declare the processing agents, tables and the ``GET /shipments/{id}`` route."""
    app = p.app
    metrics = p.metrics
    serde = p.serde(cat.EVENTS)
    updates = p.topic(cat.UPDATES)
    arrivals = p.topic(cat.HUB_ARRIVALS)
    state = shipments.declare(app, p.settings)
    hub_view = hubs.HubView(hubs.declare(p))
    counts = HubWindowCounts(store=hub_windows.declare(app, p.settings))

    async def decode(event: EventT) -> ShipmentEvent:
        """Decode and validate; waits (never drops) while the registry is unreachable."""
        while True:
            try:
                ev = ShipmentEvent.from_avro(serde.decode(event.message.value))
                break
            except ServiceUnavailable as exc:
                log.warning("%s; retrying in %.0fs", exc, REGISTRY_RETRY_S)
                await asyncio.sleep(REGISTRY_RETRY_S)
        validate_event(ev)
        key = event.message.key.decode(errors="replace") if event.message.key else None
        if key != ev.shipment_id:
            msg = (
                f"record key {key!r} differs from shipment_id {ev.shipment_id!r}; "
                "produce keyed by shipment_id"
            )
            raise ValidationError(Reason.KEY_MISMATCH, msg, "shipment_id")
        return ev

    async def dead_letter(event: EventT, exc: Exception, reason: str) -> None:
        metrics.events.labels(STAGE, "dead_lettered").inc()
        await p.dead_letter_event(event, exc, STAGE, reason)

    async def handle(event: EventT) -> None:
        try:
            ev = await decode(event)
        except DecodeError as exc:
            await dead_letter(event, exc, exc.reason)
            return
        except ValidationError as exc:
            await dead_letter(event, exc, exc.reason)
            return
        previous = state.get(ev.shipment_id)
        result = reducer.apply(
            None if previous is None else reducer.ShipmentState.from_json(previous), ev, hub_view
        )
        offset = event.message.offset
        if result.outcome is reducer.Outcome.DUPLICATE:
            if previous is None or offset > previous.get(APPLIED_OFFSET, -1):
                metrics.duplicates.labels(STAGE).inc()
                metrics.events.labels(STAGE, "duplicate").inc()
                return
            # At or before the last record applied to this shipment: a replay after a crash.
            # faust wrote the state to the local store at once, but its changelog record and
            # the update may still have been in the producer when the worker died: write both
            # again. Downstream is idempotent (hub windows and decision memory dedupe by event
            # id), so a replay whose effects did arrive costs a repeat, nothing more.
            state[ev.shipment_id] = previous
            metrics.events.labels(STAGE, "replayed").inc()
            older = result.state.latest_at is not None and ev.occurred_at < result.state.latest_at
            await forward(event, ev, result.state, older)
            return
        state[ev.shipment_id] = {**result.state.to_json(), APPLIED_OFFSET: offset}
        metrics.events.labels(STAGE, "applied").inc()
        await forward(event, ev, result.state, result.older)

    async def forward(
        event: EventT, ev: ShipmentEvent, current: reducer.ShipmentState, older: bool
    ) -> None:
        update = rules.Update(event=ev, state=current, older=older).to_json()
        update["state"].pop("seen_event_ids")  # the decision agent never needs them
        payload = {
            "kind": "event",
            "update": update,
            "ingested_at": header(event, INGESTED_AT_HEADER),
        }
        if ev.event_type is EventType.ARRIVED_HUB and ev.hub:
            # Detour by hub: the hub agent numbers the arrival in its window (R5; once per
            # event id) and then forwards this same update to the rules.
            await arrivals.send(key=ev.hub, value=payload)
        else:
            await updates.send(key=ev.shipment_id, value=payload)

    async def process(stream: StreamT) -> None:
        async for event in stream.events():
            try:
                await handle(event)
            except Exception as exc:  # a bug must not stop the worker: keep the record
                log.exception("processing failed for %s", event.message.tp)
                await dead_letter(event, exc, Reason.INTERNAL_ERROR)

    async def count_arrivals(stream: StreamT) -> None:
        async for payload in stream:
            update = payload["update"]
            ev = update["event"]
            arrival = counts.record(ev["hub"], ev["occurred_at"], ev["shipment_id"], ev["event_id"])
            if arrival.k is None:
                metrics.events.labels("hub_windows", "late").inc()
            hub = hub_view.get(arrival.hub)
            update.update(
                arrival_k=arrival.k,
                hub_capacity=None if hub is None else hub.capacity_per_window,
                hub_alternate=None if hub is None else hub.alternate,
            )
            await updates.send(key=arrival.shipment_id, value=payload)

    app.agent(p.raw_topic(cat.EVENTS), name=f"{STAGE}.events")(process)
    app.agent(arrivals, name=f"{STAGE}.hub_arrivals")(count_arrivals)

    class ShipmentView(fweb.View):
        """The state of one shipment, answered by the worker owning its partition."""

        @app.table_route(table=state, match_info="shipment_id")  # type: ignore[arg-type]  # faust types handlers without path params
        async def get(self, request: fweb.Request, shipment_id: str) -> fweb.Response:
            value = state.get(shipment_id)
            if value is None:
                return self.json({"error": "not_found", "shipment_id": shipment_id}, status=404)
            return self.json(value)

    class HubsView(fweb.View):
        """The hub network as this worker sees it (reference.hubs applies at run time)."""

        async def get(self, request: fweb.Request) -> fweb.Response:
            return self.json({code: hub_view[code].to_avro() for code in sorted(hub_view)})

    app.page("/shipments/{shipment_id}")(ShipmentView)
    app.page("/hubs")(HubsView)
