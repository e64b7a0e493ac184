"""Decision role: Faust wiring around the pure rules and the decision log table.

Each update is evaluated against the shipment's decision memory; decisions are sent to
``shipments.decisions`` before the new memory is stored. R7 has no triggering event, so a
timer sends a *tick* into each assigned partition of the updates topic at least every 10 s;
the tick is handled inside the stream, where table writes land in the right changelog
partition, which a write from the timer itself would not.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.types import EventT, StreamT

from streams import topics as cat
from streams.agents.decision import rules
from streams.agents.decision.memory import DecisionMemory
from streams.agents.decision.sent import SentDecisions, kafka_loader
from streams.errors import Reason
from streams.kafka.partitioner import partition_for
from streams.model import Decision
from streams.pipeline import Pipeline, now_ms
from tables import decision_memory

log = logging.getLogger(__name__)

STAGE = "decision"
TICK_INTERVAL_S = 10.0


def register(p: Pipeline) -> None:
    """Declare the decision agent, its tables and the R7 timer."""
    app = p.app
    metrics = p.metrics
    partitions = p.settings.partitions
    updates_name = p.settings.topic(cat.UPDATES.name)
    updates = p.topic(cat.UPDATES)
    decisions = p.topic(cat.DECISIONS)
    decisions_name = p.settings.topic(cat.DECISIONS.name)
    sent = SentDecisions(
        kafka_loader(p.settings.broker, decisions_name, p.serde(cat.DECISIONS).decode)
    )
    memory = decision_memory.declare(app, p.settings)
    stream_time = decision_memory.declare_stream_time(app, p.settings)
    checked: dict[int, int] = {}  # partition -> stream time at the last R7 check
    # R7 candidates per partition: shipment -> (last event time, nothing more to escalate).
    # Kept in memory so a tick does not decode the whole table; rebuilt from the table (one
    # scan) after every rebalance, since partitions and their memory may have moved.
    silences: dict[int, dict[str, tuple[int | None, bool]]] = {}
    rebuild_needed = [True]

    def note(partition: int, mem: DecisionMemory) -> None:
        silences.setdefault(partition, {})[mem.shipment_id] = (
            mem.last_event_at,
            mem.closed or mem.silence_escalated,
        )

    def rebuild() -> None:
        silences.clear()
        for key, value in memory.items():
            sid = key.decode() if isinstance(key, bytes) else key
            note(partition_for(sid, partitions), DecisionMemory.from_json(value))
        rebuild_needed[0] = False

    async def on_assigned(_sender: Any, *_args: Any, **_kw: Any) -> None:
        rebuild_needed[0] = True
        sent.reset()

    # mode types receivers with a keyword-only `signal`; ours takes it through **_kw.
    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]

    def on_committed(d: Decision, ingested_at: int | None) -> Any:
        def callback(_fut: Any) -> None:
            now = now_ms()
            metrics.decisions.labels(d.action.value, d.rule).inc()
            metrics.decision_latency.labels("occurred").observe((now - d.event_occurred_at) / 1e3)
            if ingested_at is not None:
                metrics.decision_latency.labels("ingested").observe((now - ingested_at) / 1e3)

        return callback

    async def emit(d: Decision, ingested_at: int | None, partition: int) -> None:
        if sent.already_sent(partition, d.decision_id):
            # A previous owner sent it and died before its memory said so (see sent.py).
            metrics.decisions_already_sent.inc()
            log.info("decision %s (%s) already committed; not sent again", d.decision_id, d.rule)
            return
        # Wait for the broker's ack before the memory records the decision as taken: faust
        # writes the memory to the local store at once, so a crash between the two would
        # leave a remembered decision that never reached Kafka, and the replay would skip it.
        # Now a crash re-sends the same decision_id instead (consumers dedupe by it). Costs a
        # round trip per decision, not per update.
        pending = await decisions.send(
            key=d.shipment_id, value=d.to_avro(), callback=on_committed(d, ingested_at)
        )
        await pending

    async def on_update(payload: dict[str, Any], partition: int) -> None:
        update = rules.Update.from_json(payload["update"])
        sid = update.event.shipment_id
        previous = memory.get(sid)
        taken, new_memory = rules.evaluate(
            update, None if previous is None else DecisionMemory.from_json(previous), now_ms()
        )
        ingested = payload.get("ingested_at")
        for d in taken:
            await emit(d, int(ingested) if ingested else None, partition)
        memory[sid] = new_memory.to_json()
        note(partition, new_memory)
        key = str(partition)
        if update.event.occurred_at > (stream_time.get(key) or 0):
            stream_time[key] = update.event.occurred_at
            metrics.stream_time.labels(key).set(update.event.occurred_at)

    async def on_tick(partition: int) -> None:
        now = stream_time.get(str(partition))
        if now is None:
            return
        checked[partition] = now
        if rebuild_needed[0]:
            rebuild()
        for sid, (last_at, done) in list(silences.get(partition, {}).items()):
            if done or last_at is None or now - last_at < rules.R7_SILENCE_MS:
                continue
            value = memory.get(sid)
            if value is None:
                continue
            mem = DecisionMemory.from_json(value)
            d = rules.stalled(mem, now, now_ms())
            if d is not None:
                await emit(d, None, partition)
                mem = mem.remember(d)
                memory[sid] = mem.to_json()
            note(partition, mem)

    async def decide(stream: StreamT) -> None:
        async for event in stream.events():
            try:
                message = event.message
                await sent.prepare(message.partition, int(message.timestamp * 1000))
                payload = event.value
                if payload.get("kind") == "tick":
                    await on_tick(event.message.partition)
                else:
                    await on_update(payload, event.message.partition)
                    metrics.events.labels(STAGE, "evaluated").inc()
            except Exception as exc:  # a bug must not stop the worker: keep the record
                log.exception("decision failed for %s", event.message.tp)
                await dead_letter(event, exc)

    async def dead_letter(event: EventT, exc: Exception) -> None:
        await p.dead_letter_event(event, exc, STAGE, Reason.INTERNAL_ERROR)

    async def tick() -> None:
        """Ask each assigned partition whose stream time moved to run R7."""
        for tp in app.assignor.assigned_actives():
            if tp.topic != updates_name:
                continue
            current = stream_time.get(str(tp.partition))
            if current is not None and checked.get(tp.partition) != current:
                await updates.send(value={"kind": "tick"}, partition=tp.partition)

    app.agent(updates, name=f"{STAGE}.updates")(decide)
    app.timer(TICK_INTERVAL_S, name=f"{STAGE}.r7_tick")(tick)
