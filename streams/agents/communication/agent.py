"""Communication role: delivers each decision to its endpoint and records the outcome.

Decisions are read in batches past faust's per-record path (``streams.patches.batch_delivery``,
so a partition also reaches this role as one unbroken run, ``continuity.py``); each decision
is delivered in its own task, behind its endpoint's concurrency limit and circuit breaker, so a
slow or failing endpoint delays only its own actions; at most ``MAX_IN_FLIGHT`` deliveries run
at once (backpressure on the stream beyond that). A batch is acked once every delivery of it
has ended, and batches in the order they were taken (``inflight.InOrderAcker``), so the
committed offset never passes a delivery still in flight: a crash re-delivers what was in
flight, which is harmless because the ``Idempotency-Key`` makes the endpoint answer 409
(DUPLICATE) the second time. A delivery ends only once its outcome's ``shipments.actions``
record is acknowledged by the broker (``streams.kafka.shared_sends``).

A delivery retries for at most ``SHIPSTREAM_DELIVERY_RETRY_BUDGET_S`` (plus one request's
timeout), so an endpoint's outage holds its partitions' commits back for that long at most,
never forever, and every decision still ends DELIVERED, DUPLICATE or FAILED_* in
``shipments.actions``. While deliveries wait, their batches stay unacked: a crash re-delivers
them, and a rebalance waits for them (faust's ``stream_wait_empty``) — up to the budget.
"""

from __future__ import annotations

import asyncio
import logging

from streams import signing
from streams import topics as cat
from streams.agents.communication.delivery import Deliverer, Endpoint, RetryPolicy
from streams.agents.communication.http import HttpTransport
from streams.codecs.avro import decode_off_loop, warm_up
from streams.errors import DecodeError, Reason
from streams.kafka.shared_sends import SharedSends
from streams.model import ActionResult, ActionStatus, Decision
from streams.patches.batch_delivery import BatchSource, Record
from streams.patches.inflight import BatchInFlight, InOrderAcker
from streams.pipeline import Pipeline

log = logging.getLogger(__name__)

STAGE = "communication"
MAX_IN_FLIGHT = 512
#: Decisions taken from the stream at a time (the fetcher hands them over a fetch at a time).
BATCH_MAX = 500
BATCH_WITHIN_S = 0.005
REGISTRY_RETRY_S = 2.0
#: The most of an endpoint's answer that is read: only its status and headers matter.
MAX_RESPONSE_BYTES = 64 * 1024


def register(p: Pipeline) -> None:
    """Declare the delivery agent."""
    s = p.settings
    metrics = p.metrics
    serde = p.serde(cat.DECISIONS, in_loop=True)
    actions_serde = p.serde(cat.ACTIONS)
    actions = SharedSends(s.topic(cat.ACTIONS.name), cat.partitions_of(cat.ACTIONS, s), p.producer)
    keys = signing.load_keys(s.delivery_keys_file) if s.delivery_keys_file else None
    endpoints = {
        action: Endpoint(
            s.endpoint_url + path,
            concurrency=s.endpoint_concurrency,
            secrets=keys.for_path(path) if keys else (),
        )
        for action, path in s.endpoint_paths.items()
    }
    if keys is None:
        log.warning("SHIPSTREAM_DELIVERY_KEYS_FILE is not set: deliveries are not signed")
    elif unsigned := sorted(a for a, e in endpoints.items() if not e.secrets):
        msg = f"{s.delivery_keys_file} has no key for the endpoints of {unsigned} (nor '*')"
        raise signing.KeyFileError(msg)
    policy = RetryPolicy(
        attempts=s.delivery_attempts,
        cap_s=s.delivery_backoff_cap_s,
        budget_s=s.delivery_retry_budget_s,
    )
    transport = HttpTransport(s.delivery_timeout_s, s.delivery_ca_file, MAX_RESPONSE_BYTES)
    deliverer = Deliverer(endpoints, transport, policy)

    async def decode(record: Record) -> Decision:
        """The registry being down is not the record's fault: waits for it, never DLQs."""
        value = record.value
        return await decode_off_loop(
            serde, lambda: serde.decode_as(value, Decision), REGISTRY_RETRY_S
        )

    circuits: dict[str, bool] = {}

    def note_circuits() -> None:
        """The circuit gauges, set when a breaker changed (not per delivery)."""
        for endpoint in endpoints.values():
            is_open = endpoint.breaker.state == "open"
            if circuits.get(endpoint.url) != is_open:
                circuits[endpoint.url] = is_open
                metrics.circuit_open.labels(endpoint.url).set(is_open)

    async def deliver(record: Record) -> None:
        try:
            decision = await decode(record)
        except DecodeError as exc:
            await p.dead_letter_record(record, exc, STAGE, exc.reason)
            return
        result: ActionResult = await deliverer.deliver(decision)
        metrics.deliveries.labels(result.endpoint, result.status.value).inc()
        metrics.delivery_attempts.labels(result.endpoint).inc(result.attempts)
        # Acknowledged before the decision's offset may be committed (acked below).
        await actions.send(decision.shipment_id, actions_serde.encode(result.to_avro()))
        if result.status in (ActionStatus.FAILED_PERMANENT, ActionStatus.FAILED_EXHAUSTED):
            reason = (
                Reason.DELIVERY_FAILED_PERMANENT
                if result.status is ActionStatus.FAILED_PERMANENT
                else Reason.DELIVERY_FAILED_EXHAUSTED
            )
            failure = RuntimeError(f"{result.endpoint}: {result.error}")
            await p.dead_letter_record(record, failure, STAGE, reason)
        note_circuits()

    acker = InOrderAcker()
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)
    tasks: set[asyncio.Task[None]] = set()

    async def deliver_record(record: Record, batch: BatchInFlight) -> None:
        try:
            await deliver(record)
        except Exception as exc:  # a bug must not lose the record: dead-letter it
            log.exception(
                "delivery of %s[%s]@%s failed", record.topic, record.partition, record.offset
            )
            await p.dead_letter_record(record, exc, STAGE, Reason.INTERNAL_ERROR)
        finally:
            batch.record_done()
            slots.release()

    async def run(source: BatchSource) -> None:
        await warm_up(actions_serde, REGISTRY_RETRY_S)
        while True:
            batch = await source.take()
            taken = BatchInFlight(source, batch, len(batch.records), acker)
            for record in batch.records:
                await slots.acquire()
                task = asyncio.create_task(deliver_record(record, taken))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    p.batch_agent(cat.DECISIONS, f"{STAGE}.deliveries", run, BATCH_MAX, BATCH_WITHIN_S)
