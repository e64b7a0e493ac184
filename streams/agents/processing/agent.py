"""Processing role: Faust wiring around :class:`Processor` and the hub-window counter.

``shipments.events`` is read as raw bytes so that every record, decodable or not, ends in
exactly one place: applied to the ``shipments`` table, counted as a duplicate, or written to
the DLQ with its reason. Agent concurrency stays at 1: with more, faust can commit an offset
past an event still in flight (faust-streaming #606) and a crash would lose it.

Every accepted event leaves as a :class:`streams.messages.EventUpdate` with its ``seq``. An
ARRIVED_HUB goes to ``shipments.hub-arrivals`` first (keyed by hub) so that one agent numbers
the arrivals of a hub's window (R5); it then continues to ``shipments.updates``, where the
decision role puts it back in its shipment's order.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faust import web as fweb
from faust.types import EventT, StreamT

from streams import messages
from streams import topics as cat
from streams.agents.ingestion.validation import ValidationError
from streams.agents.processing.accept import accept
from streams.agents.processing.processor import Processor, decode_state
from streams.agents.processing.windows import HubWindowCounts
from streams.errors import DecodeError, Reason, ServiceUnavailable
from streams.model import EventType, ShipmentEvent
from streams.pipeline import INGESTED_AT_HEADER, Pipeline
from tables import hub_windows, hubs, shipments

log = logging.getLogger(__name__)

STAGE = "processing"
HUB_STAGE = "hub_windows"
REGISTRY_RETRY_S = 2.0


def header(event: EventT, name: str) -> str | None:
    """A header of the event's message as text (faust gives a list or a mapping)."""
    headers: Any = event.message.headers or ()
    items = headers.items() if hasattr(headers, "items") else headers
    for key, value in items:
        if key == name and value is not None:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def _ingested_at(event: EventT) -> int | None:
    value = header(event, INGESTED_AT_HEADER)
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def register(p: Pipeline) -> None:
    """Declare the processing agents, tables and the ``GET /shipments/{id}`` route."""
    app = p.app
    metrics = p.metrics
    serde = p.serde(cat.EVENTS)
    updates = p.topic(cat.UPDATES)
    arrivals = p.topic(cat.HUB_ARRIVALS)
    state = shipments.declare(app, p.settings)
    hub_view = hubs.network(p)
    processor = Processor(state, hub_view)
    counts = HubWindowCounts(store=hub_windows.declare(app, p.settings))

    async def decode(event: EventT) -> ShipmentEvent:
        """Decode and accept; waits (never drops) while the registry is unreachable."""
        message = event.message
        while True:
            try:
                return accept(
                    serde,
                    message.key,
                    message.value,
                    int(message.timestamp * 1000),
                    p.settings.max_future_skew_ms,
                )
            except ServiceUnavailable as exc:
                log.warning("%s; retrying in %.0fs", exc, REGISTRY_RETRY_S)
                await asyncio.sleep(REGISTRY_RETRY_S)

    async def dead_letter(event: EventT, exc: Exception, reason: str, stage: str = STAGE) -> None:
        metrics.events.labels(stage, "dead_lettered").inc()
        await p.dead_letter_event(event, exc, stage, reason)

    async def handle(event: EventT) -> None:
        try:
            ev = await decode(event)
        except (DecodeError, ValidationError) as exc:
            await dead_letter(event, exc, exc.reason)
            return
        handled = processor.handle(ev, event.message.offset, _ingested_at(event))
        metrics.events.labels(STAGE, handled.outcome).inc()
        if handled.update is None:
            metrics.duplicates.labels(STAGE).inc()
            return
        if ev.event_type is EventType.ARRIVED_HUB and ev.hub:
            await arrivals.send(key=ev.hub, value=messages.encode(handled.update))
        else:
            await updates.send(key=ev.shipment_id, value=messages.encode(handled.update))

    async def process(stream: StreamT) -> None:
        await hub_view.wait_ready()
        async for event in stream.events():
            try:
                await handle(event)
            except Exception as exc:  # a bug must not stop the worker: keep the record
                log.exception("processing failed for %s", event.message.tp)
                await dead_letter(event, exc, Reason.INTERNAL_ERROR)

    def number(update: messages.EventUpdate) -> messages.EventUpdate:
        ev = update.event
        arrival = counts.record(ev.hub or "", ev.occurred_at, ev.shipment_id, ev.event_id)
        if arrival.k is None:
            metrics.events.labels(HUB_STAGE, "late").inc()
        hub = hub_view.get(arrival.hub)
        return update.counted(
            messages.Arrival(
                k=arrival.k,
                capacity=None if hub is None else hub.capacity_per_window,
                alternate=None if hub is None else hub.alternate,
            )
        )

    async def count_arrivals(stream: StreamT) -> None:
        await hub_view.wait_ready()
        async for event in stream.events():
            try:
                update = messages.decode(event.message.value)
            except messages.MessageError as exc:
                await dead_letter(event, exc, Reason.INTERNAL_ERROR, HUB_STAGE)
                continue
            if not isinstance(update, messages.EventUpdate):
                continue
            try:
                update = number(update)
            except Exception as exc:  # a bug must not stop the worker, nor hold the shipment
                log.exception("hub window count failed for %s", event.message.tp)
                await dead_letter(event, exc, Reason.INTERNAL_ERROR, HUB_STAGE)
                # Its later updates wait for it in the decision role: let it go on, uncounted.
                update = update.counted(messages.Arrival(k=None))
            await updates.send(key=update.shipment_id, value=messages.encode(update))

    app.agent(p.raw_topic(cat.EVENTS), name=f"{STAGE}.events")(process)
    app.agent(p.raw_topic(cat.HUB_ARRIVALS), name=f"{STAGE}.hub_arrivals")(count_arrivals)

    class ShipmentView(fweb.View):
        """The state of one shipment, answered by the worker owning its partition."""

        @app.table_route(table=state, match_info="shipment_id")  # type: ignore[arg-type]  # faust types handlers without path params
        async def get(self, request: fweb.Request, shipment_id: str) -> fweb.Response:
            value = state.get(shipment_id)
            if value is None:
                return self.json({"error": "not_found", "shipment_id": shipment_id}, status=404)
            return self.json(decode_state(value))

    app.page("/shipments/{shipment_id}")(ShipmentView)
