"""Processing role: Faust wiring around :class:`Processor` and the hub-window counter.

``shipments.events`` is read as raw bytes so that every record, decodable or not, ends in
exactly one place: applied to the ``shipments`` table, counted as a duplicate, or written to
the DLQ with its reason. Agent concurrency stays at 1: with more, faust can commit an offset
past an event still in flight (faust-streaming #606) and a crash would lose it.

Every accepted event leaves as a :class:`streams.messages.EventUpdate` with its ``seq``. An
ARRIVED_HUB goes to ``shipments.hub-arrivals`` first (in the hub's partition) so that one agent
numbers the arrivals of a hub's window (R5); it then continues to ``shipments.updates``, where
the decision role puts it back in its shipment's order.

Both agents take their input in batches (``streams.patches.batch_delivery``): table writes go
through a :class:`WriteBack` (one changelog record per key and batch) and updates through an
:class:`Outbox` (one record per destination partition and batch); both leave, and are
acknowledged, before the batch's offsets can be committed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

from faust import web as fweb

from streams import messages
from streams import topics as cat
from streams.agents.ingestion.validation import ValidationError
from streams.agents.outbox import Outbox
from streams.agents.processing.accept import accept
from streams.agents.processing.processor import (
    Processor,
    decode_state,
    decode_stored,
    encode_stored,
)
from streams.agents.processing.windows import HubWindowCounts
from streams.codecs.avro import decode_off_loop
from streams.errors import DecodeError, Reason, SchemaNotLoaded
from streams.kafka.partitioner import partition_for
from streams.metrics import Tally
from streams.model import EventType, ShipmentEvent
from streams.patches import table_io
from streams.patches.batch_delivery import LARGEST_BATCH, BatchSource
from streams.pipeline import INGESTED_AT_HEADER, Pipeline
from tables import hub_windows, hubs, shipments

log = logging.getLogger(__name__)

STAGE = "processing"
HUB_STAGE = "hub_windows"
REGISTRY_RETRY_S = 2.0
BATCH_MAX = LARGEST_BATCH
BATCH_WITHIN_S = 0.02


def _ingested_at(record: Any) -> int | None:
    """The ingestion time header of a record (aiokafka gives (name, bytes) pairs)."""
    for key, value in record.headers or ():
        if key == INGESTED_AT_HEADER and value is not None:
            try:
                return int(value)
            except ValueError:
                return None
    return None


def register(p: Pipeline) -> None:
    """Declare the processing agents, tables and the ``GET /shipments/{id}`` route."""
    app = p.app
    metrics = p.metrics
    serde = p.serde(cat.EVENTS, in_loop=True)
    arrival_partitions = cat.partitions_of(cat.HUB_ARRIVALS, p.settings)
    update_partitions = cat.partitions_of(cat.UPDATES, p.settings)
    state = shipments.declare(app, p.settings)
    state_io = p.table_io(
        state, table_io.Codec(encode_stored, lambda _key, raw: decode_stored(raw))
    )
    state_writes = state_io.overlay()
    hub_view = hubs.network(p)
    processor = Processor(state_writes, hub_view)
    windows = hub_windows.declare(app, p.settings)
    windows_io = p.table_io(windows, table_io.JSON)
    window_writes = windows_io.overlay()
    counts = HubWindowCounts(store=window_writes)
    outcomes, duplicates = Tally(metrics.events), Tally(metrics.duplicates)
    # One outbox per agent: each sends only what its own batch produced.
    updates_name = p.settings.topic(cat.UPDATES.name)
    to_updates = Outbox(updates_name, p.producer)
    to_arrivals = Outbox(p.settings.topic(cat.HUB_ARRIVALS.name), p.producer)
    to_updates_from_hubs = Outbox(updates_name, p.producer)

    @functools.cache
    def hub_partition(hub: str) -> int:
        return partition_for(hub, arrival_partitions)

    async def decode(record: Any) -> ShipmentEvent:
        """Decode and accept, the schema loaded off the loop; waits out registry outages."""
        skew_ms = p.settings.max_future_skew_ms
        return await decode_off_loop(
            serde,
            lambda: accept(serde, record.key, record.value, record.timestamp, skew_ms),
            REGISTRY_RETRY_S,
        )

    async def dead_letter(record: Any, exc: Exception, reason: str, stage: str = STAGE) -> None:
        metrics.events.labels(stage, "dead_lettered").inc()
        await p.dead_letter_record(record, exc, stage, reason)

    def forward(record: Any, ev: ShipmentEvent) -> None:
        handled = processor.handle(ev, record.offset, _ingested_at(record))
        outcomes.add(STAGE, handled.outcome)
        if handled.update is None:
            duplicates.add(STAGE)
            return
        if ev.event_type is EventType.ARRIVED_HUB and ev.hub:
            to_arrivals.add(hub_partition(ev.hub), handled.update)
        else:
            # Same key, same partitioner, same count: the shipment's partition of the updates.
            to_updates.add(record.partition, handled.update)

    async def handle(record: Any) -> None:
        """A record whose schema is not loaded yet: loads it, then applies or dead-letters."""
        try:
            ev = await decode(record)
        except (DecodeError, ValidationError) as exc:
            await dead_letter(record, exc, exc.reason)
            return
        forward(record, ev)

    async def process_batch(records: Sequence[Any]) -> None:
        skew_ms = p.settings.max_future_skew_ms
        for record in records:
            state_writes.at(record.partition)
            try:
                # A valid record takes no coroutine of its own.
                try:
                    ev = accept(serde, record.key, record.value, record.timestamp, skew_ms)
                except SchemaNotLoaded:
                    await handle(record)  # loads it off the loop (and waits for the registry)
                    continue
                except (DecodeError, ValidationError) as exc:
                    await dead_letter(record, exc, exc.reason)
                    continue
                forward(record, ev)
            except Exception as exc:  # a bug must not stop the worker: keep the record
                log.exception("processing failed for %s[%d]", record.topic, record.partition)
                await dead_letter(record, exc, Reason.INTERNAL_ERROR)
        # The batch's records are acked (committed later) only after this: the state and the
        # updates leave first. A crash before they do is a replay (processor.py).
        deliveries = p.deliveries()
        await state_io.flush(state_writes, deliveries)
        await to_updates.send(deliveries)
        await to_arrivals.send(deliveries)
        await deliveries.wait()
        outcomes.flush()
        duplicates.flush()

    async def process(source: BatchSource) -> None:
        await hub_view.wait_ready()
        await source.run(process_batch)

    def number(update: messages.EventUpdate) -> messages.EventUpdate:
        ev = update.event
        arrival = counts.record(ev.hub or "", ev.occurred_at, ev.shipment_id, ev.event_id)
        if arrival.k is None:
            outcomes.add(HUB_STAGE, "late")
        hub = hub_view.get(arrival.hub)
        return update.counted(
            messages.Arrival(
                k=arrival.k,
                capacity=None if hub is None else hub.capacity_per_window,
                alternate=None if hub is None else hub.alternate,
            )
        )

    def count(update: messages.EventUpdate) -> None:
        try:
            update = number(update)
        except Exception:  # a bug must not stop the worker, nor hold the shipment
            log.exception("hub window count failed for %s", update.event.event_id)
            metrics.events.labels(HUB_STAGE, Reason.INTERNAL_ERROR).inc()
            # Its later updates wait for it in the decision role: let it go on, uncounted.
            update = update.counted(messages.Arrival(k=None))
        to_updates_from_hubs.add(partition_for(update.shipment_id, update_partitions), update)

    async def count_batch(records: Sequence[Any]) -> None:
        for record in records:
            window_writes.at(record.partition)
            try:
                batch = messages.decode_batch(record.value)
            except messages.MessageError as exc:
                await dead_letter(record, exc, Reason.INTERNAL_ERROR, HUB_STAGE)
                continue
            for update in batch:
                if isinstance(update, messages.EventUpdate):
                    count(update)
        deliveries = p.deliveries()
        await windows_io.flush(window_writes, deliveries)
        await to_updates_from_hubs.send(deliveries)
        await deliveries.wait()
        outcomes.flush()

    async def count_arrivals(source: BatchSource) -> None:
        await hub_view.wait_ready()
        await source.run(count_batch)

    p.batch_agent(cat.EVENTS, f"{STAGE}.events", process, BATCH_MAX, BATCH_WITHIN_S)
    p.batch_agent(
        cat.HUB_ARRIVALS, f"{STAGE}.hub_arrivals", count_arrivals, BATCH_MAX, BATCH_WITHIN_S
    )

    class ShipmentView(fweb.View):
        """The state of one shipment, answered by the worker owning its partition."""

        @app.table_route(table=state, match_info="shipment_id")  # type: ignore[arg-type]  # faust types handlers without path params
        async def get(self, request: fweb.Request, shipment_id: str) -> fweb.Response:
            value = state.get(shipment_id)
            if value is None:
                return self.json({"error": "not_found", "shipment_id": shipment_id}, status=404)
            return self.json(decode_state(value))

    app.page("/shipments/{shipment_id}")(ShipmentView)
