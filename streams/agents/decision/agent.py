"""Decision role: Faust wiring around :class:`Decider` (rules, order, R7) and its tables.

Updates arrive in batch records (``streams.messages``) and are read in batches of records
(``streams.patches.batch_delivery``). The decisions of a whole batch are sent, then
acknowledged together, and only then do the tables record them (one write per shipment and
batch, ``tables.writeback``): a decision never enters the memory before the broker has it (a
crash in between re-takes it with the same id, and ``sent.py`` skips what a previous owner
committed). One round trip per batch instead of one per decision is what lets the producer
batch (linger) without stalling the stream.

R7 has no triggering event, so a timer sends a *tick* into each assigned partition of the
updates topic at least every 10 s; the tick is handled inside the stream, where table writes
land in the right changelog partition, which a write from the timer itself would not.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

from streams import messages
from streams import topics as cat
from streams.agents.decision.decider import Decider
from streams.agents.decision.sent import KafkaLoader, SentDecisions
from streams.agents.decision.track import Track
from streams.codecs.avro import warm_up
from streams.errors import Reason
from streams.kafka.partitioner import partition_for
from streams.metrics import Tally
from streams.model import Decision
from streams.patches import table_io
from streams.patches.batch_delivery import LARGEST_BATCH, BatchSource
from streams.pipeline import Pipeline, now_ms
from tables import decision_memory, hubs

log = logging.getLogger(__name__)

STAGE = "decision"
TICK_INTERVAL_S = 10.0
BATCH_MAX = LARGEST_BATCH
BATCH_WITHIN_S = 0.02
REGISTRY_RETRY_S = 2.0
#: Table values the R7 index rebuild reads before it lets a batch run.
REBUILD_CHUNK = 2000


def register(p: Pipeline) -> None:
    """Declare the decision agent, its tables and the R7 timer."""
    app = p.app
    metrics = p.metrics
    partitions = p.settings.partitions
    updates_name = p.settings.topic(cat.UPDATES.name)
    updates = p.topic(cat.UPDATES)
    decisions_name = p.settings.topic(cat.DECISIONS.name)
    decision_partitions = cat.partitions_of(cat.DECISIONS, p.settings)
    serde = p.serde(cat.DECISIONS)
    sent_loader = KafkaLoader(p.settings, decisions_name, serde.decode)
    sent = SentDecisions(sent_loader)
    hub_view = hubs.network(p)

    since_occurred = metrics.decision_latency.labels("occurred")
    since_ingested = metrics.decision_latency.labels("ingested")

    def on_committed(d: Decision, ingested_at: int | None) -> Callable[[], None]:
        def callback() -> None:
            now = now_ms()
            metrics.decisions.labels(d.action.value, d.rule).inc()
            since_occurred.observe((now - d.event_occurred_at) / 1e3)
            if ingested_at is not None:
                since_ingested.observe((now - ingested_at) / 1e3)

        return callback

    outcomes = Tally(metrics.events)
    # Decisions leave through the worker's librdkafka producer; decide_batch waits for them.
    outgoing = p.deliveries()

    def emit(d: Decision, update: messages.EventUpdate | None, partition: int) -> None:
        if sent.already_sent(partition, d.decision_id):
            # A previous owner sent it and died before its memory said so (see sent.py).
            metrics.decisions_already_sent.inc()
            log.info("decision %s (%s) already committed; not sent again", d.decision_id, d.rule)
            return
        send(d, None if update is None else update.ingested_at)

    def send(d: Decision, ingested: int | None) -> None:
        outgoing.produce(
            decisions_name,
            serde.encode(d.to_avro()),
            key=d.shipment_id,
            partition=partition_for(d.shipment_id, decision_partitions),
            on_delivered=on_committed(d, ingested),
            ref=(d, ingested),
        )

    def send_again(refused: list[tuple[Decision, int | None]]) -> None:
        for d, ingested in refused:
            log.warning("decision %s not acknowledged; sending it again", d.decision_id)
            send(d, ingested)

    memory = decision_memory.declare(app, p.settings)
    stream_time = decision_memory.declare_stream_time(app, p.settings)
    memory_io = p.table_io(memory, table_io.Codec(Track.to_bytes, Track.from_value))
    stream_time_io = p.table_io(stream_time, table_io.JSON)
    memory_writes = memory_io.overlay()
    # stream_time is keyed by partition number: a key is read in its own partition, also from
    # the R7 timer, outside any batch.
    stream_time_writes = stream_time_io.overlay(
        lambda _current, key: stream_time_io.read(int(key), key)
    )
    decider = Decider(
        memory_writes,
        stream_time_writes,
        hub_view,
        emit,
        lambda sid: partition_for(sid, partitions),
        clock=now_ms,
        max_waiting=p.settings.max_waiting_updates,
        on_gap_skipped=metrics.order_gaps_skipped.inc,
    )
    metrics.updates_waiting.set_function(decider.waiting_updates)
    metrics.updates_waiting_oldest.set_function(decider.oldest_wait_s)

    rebuilds: set[asyncio.Task[None]] = set()

    async def rebuild_index() -> None:
        """The R7 and waiting indexes from the table, a chunk at a time between batches."""
        try:
            items = iter(memory.items())
            while chunk := list(itertools.islice(items, REBUILD_CHUNK)):
                decider.rebuild_from(chunk)
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise  # a rebalance: the next assignment's first batch starts another
        except Exception:  # a partition's store went away under the scan: read it again
            log.warning("rebuilding the R7 index failed; again at the next batch", exc_info=True)
            decider.rebuild_needed = True
        decider.end_rebuild()

    def stop_rebuild() -> None:
        for task in rebuilds:
            task.cancel()

    async def on_assigned(_sender: Any, *_args: Any, **_kw: Any) -> None:
        stop_rebuild()
        decider.rebuild_needed = True
        sent.reset()

    async def on_revoked(_sender: Any, *_args: Any, **_kw: Any) -> None:
        stop_rebuild()  # before faust closes the stores it scans

    # mode types receivers with a keyword-only `signal`; ours take it through **_kw.
    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]
    app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]

    async def handle(record: Any) -> None:
        try:
            for payload in messages.decode_batch(record.value or b""):
                if isinstance(payload, messages.Tick):
                    decider.on_tick(record.partition)
                    continue
                outcome = decider.on_update(payload, record.partition)
                outcomes.add(STAGE, outcome.value)
        except Exception as exc:  # a bug must not stop the worker: keep the record
            log.exception("decision failed for %s[%d]", record.topic, record.partition)
            await p.dead_letter_record(record, exc, STAGE, Reason.INTERNAL_ERROR)

    async def decide_batch(records: Sequence[Any]) -> None:
        firsts: dict[int, int] = {}
        for record in records:
            firsts.setdefault(record.partition, record.timestamp)
        await sent.prepare(firsts)  # a no-op but for a partition's first batch of an assignment
        if decider.rebuild_needed:  # the first batch after an assignment: recovery is done
            decider.start_rebuild()
            task = asyncio.ensure_future(rebuild_index())
            rebuilds.add(task)
            task.add_done_callback(rebuilds.discard)
        for record in records:
            memory_writes.at(record.partition)
            stream_time_writes.at(record.partition)
            await handle(record)
        await outgoing.acknowledged(send_again, "decisions")
        # Now the memory may say so, in each partition's store and changelog.
        await memory_io.flush(memory_writes)
        await stream_time_io.flush(stream_time_writes)
        outcomes.flush()

    async def decide(source: BatchSource) -> None:
        await hub_view.wait_ready()
        await warm_up(serde, REGISTRY_RETRY_S)
        try:
            await sent_loader.start()
        except Exception as exc:  # noqa: BLE001  # the broker may be back by the first load
            log.warning("cannot connect the reader of decisions already sent yet (%r)", exc)
        try:
            await source.run(decide_batch)
        finally:
            await sent_loader.stop()

    async def tick() -> None:
        """Ask each assigned partition whose stream time moved to run R7."""
        for tp in app.assignor.assigned_actives():
            if tp.topic == updates_name and decider.due(tp.partition):
                await updates.send(value=messages.encode(messages.Tick()), partition=tp.partition)

    p.batch_agent(cat.UPDATES, f"{STAGE}.updates", decide, BATCH_MAX, BATCH_WITHIN_S)
    app.timer(TICK_INTERVAL_S, name=f"{STAGE}.r7_tick")(tick)
