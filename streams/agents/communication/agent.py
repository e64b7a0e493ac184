"""Communication role: delivers each decision to its endpoint and records the outcome.

Each decision is delivered in its own task, behind its endpoint's concurrency limit and
circuit breaker, so a slow or failing endpoint delays only its own actions; at most
``MAX_IN_FLIGHT`` deliveries run at once (backpressure on the stream beyond that). Events
are acked in offset order (``inflight.InOrderAcker``), so the committed offset never passes a
delivery still in flight: a crash re-delivers what was in flight, which is harmless because
the ``Idempotency-Key`` makes the endpoint answer 409 (DUPLICATE) the second time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import aiohttp
from faust.types import EventT, StreamT
from tenacity import before_sleep_log, retry, retry_if_exception_type, wait_fixed

from streams import topics as cat
from streams.agents.communication.delivery import Deliverer, Endpoint, RetryPolicy
from streams.errors import DecodeError, Reason, ServiceUnavailable
from streams.model import ActionResult, ActionStatus, Decision
from streams.patches.inflight import Entry, InOrderAcker
from streams.pipeline import Pipeline

log = logging.getLogger(__name__)

STAGE = "communication"
MAX_IN_FLIGHT = 512
HTTP_TIMEOUT_S = 10.0
REGISTRY_RETRY_S = 2.0


class AiohttpTransport:
    """POSTs through one shared aiohttp session (made lazily inside the worker's loop)."""

    def __init__(self, timeout_s: float = HTTP_TIMEOUT_S) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST and return the HTTP status; connection failures become OSError."""
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self.session.post(url, data=body, headers=dict(headers)) as resp:
                await resp.read()
                return resp.status
        except aiohttp.ClientError as exc:
            raise OSError(str(exc)) from exc


def register(p: Pipeline) -> None:
    """Declare the delivery agent."""
    s = p.settings
    metrics = p.metrics
    serde = p.serde(cat.DECISIONS)
    actions = p.topic(cat.ACTIONS)
    endpoints = {
        action: Endpoint(s.endpoint_url + path, concurrency=s.endpoint_concurrency)
        for action, path in s.endpoint_paths.items()
    }
    deliverer = Deliverer(endpoints, AiohttpTransport(), RetryPolicy(attempts=s.delivery_attempts))

    # The registry being down is not the record's fault: wait for it, never dead-letter.
    @retry(
        retry=retry_if_exception_type(ServiceUnavailable),
        wait=wait_fixed(REGISTRY_RETRY_S),
        before_sleep=before_sleep_log(log, logging.WARNING),
    )
    async def decode(event: EventT) -> Decision:
        return Decision.from_avro(serde.decode(event.message.value))

    async def deliver(event: EventT) -> None:
        try:
            decision = await decode(event)
        except DecodeError as exc:
            await p.dead_letter_event(event, exc, STAGE, exc.reason)
            return
        result: ActionResult = await deliverer.deliver(decision)
        metrics.deliveries.labels(result.endpoint, result.status.value).inc()
        metrics.delivery_attempts.labels(result.endpoint).inc(result.attempts)
        await actions.send(key=decision.shipment_id, value=result.to_avro())
        if result.status in (ActionStatus.FAILED_PERMANENT, ActionStatus.FAILED_EXHAUSTED):
            reason = (
                Reason.DELIVERY_FAILED_PERMANENT
                if result.status is ActionStatus.FAILED_PERMANENT
                else Reason.DELIVERY_FAILED_EXHAUSTED
            )
            failure = RuntimeError(f"{result.endpoint}: {result.error}")
            await p.dead_letter_event(event, failure, STAGE, reason)
        for endpoint in endpoints.values():
            metrics.circuit_open.labels(endpoint.url).set(endpoint.breaker.state == "open")

    acker = InOrderAcker()
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)
    tasks: set[asyncio.Task[None]] = set()

    async def deliver_and_ack(event: EventT, entry: Entry) -> None:
        try:
            await deliver(event)
        except Exception as exc:  # a bug must not lose the record: dead-letter it
            log.exception("delivery of %s failed", event.message.tp)
            await p.dead_letter_event(event, exc, STAGE, Reason.INTERNAL_ERROR)
        finally:
            acker.done(entry)
            slots.release()

    async def run(stream: StreamT) -> None:
        # noack exists on faust's Stream but not on its StreamT interface
        async for event in stream.noack().events():  # type: ignore[attr-defined]
            await slots.acquire()
            entry = acker.track(event, event.message.tp)
            task = asyncio.create_task(deliver_and_ack(event, entry))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    p.app.agent(p.raw_topic(cat.DECISIONS), name=f"{STAGE}.deliveries")(run)
