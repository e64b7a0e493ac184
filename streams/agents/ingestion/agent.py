"""Ingestion role: ``POST /ingest`` validates records and publishes them keyed by shipment.

Rejected records get a per-record error in the response and go to the DLQ; the body as a
whole is refused (400/413) only when it cannot be read at all, and then it is dead-lettered
too, so nothing sent to shipstream disappears without a trace. A record that fails in a way
nobody foresaw is dead-lettered as ``internal_error`` rather than failing its batch; only a
broker that cannot take even the dead letter makes the answer a 503 (retry the batch).

Before any of that, ``guard.Guard`` decides whether the request may be handled at all (a
signature under ``SHIPSTREAM_INGEST_AUTH=hmac``, the records cap, the carrier's rate): those
refusals (401, 413 ``too_many_records``, 429) are not dead-lettered — the sender is told what
to fix and sends again, and an unauthenticated sender cannot write to the DLQ. At most
``SHIPSTREAM_INGEST_MAX_IN_FLIGHT`` requests are handled at once (503 beyond), and a body
must arrive within ``SHIPSTREAM_INGEST_READ_TIMEOUT_S`` (408).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faust import web as fweb
from prometheus_client import Counter

from streams import signing
from streams import topics as cat
from streams.agents.ingestion.body import BodyError, RawRecord, split_body
from streams.agents.ingestion.guard import Guard, Refusal
from streams.agents.ingestion.validation import ValidationError, parse_record
from streams.dead_letter import DeadLetter
from streams.errors import Reason, RegistryError, ServiceUnavailable
from streams.model import ShipmentEvent
from streams.pipeline import INGESTED_AT_HEADER, Pipeline, now_ms

log = logging.getLogger(__name__)

STAGE = "ingestion"
SOURCE = "http:/ingest"
#: What an oversized body keeps in its dead letter (Kafka's default record limit is 1 MiB).
DLQ_BODY_PREFIX = 64 * 1024
#: The most of a record or body a dead letter keeps: a 1 MiB body plus headers would exceed
#: the producer's and the broker's 1 MiB limit, and the dead letter itself would fail.
DLQ_MAX_VALUE = 960 * 1024
#: What a 503 asks the sender to wait before sending the batch again.
RETRY_AFTER_S = 5


async def _read_limited(request: Any, limit: int) -> tuple[bytes, bool]:
    """Read at most ``limit`` bytes; report whether the body was longer."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks), True
    return b"".join(chunks), False


def register(p: Pipeline) -> None:
    """Add the ``POST /ingest`` endpoint."""
    events = p.topic(cat.EVENTS)
    metrics = p.metrics
    limit = p.settings.max_body_bytes
    skew_ms = p.settings.max_future_skew_ms
    max_in_flight = p.settings.ingest_max_in_flight
    read_timeout_s = p.settings.ingest_read_timeout_s
    keys_file = p.settings.ingest_keys_file
    keys = signing.load_keys(keys_file) if keys_file else None
    guard = Guard(p.settings, keys)
    if not guard.signed:
        log.warning(
            "SHIPSTREAM_INGEST_AUTH=none: POST /ingest accepts UNSIGNED requests from anyone "
            "who reaches this worker; use it for local runs only and set "
            "SHIPSTREAM_INGEST_AUTH=hmac with SHIPSTREAM_INGEST_KEYS_FILE in production"
        )
    refused = Counter(
        "shipstream_ingest_refused_total",
        "POST /ingest requests refused as a whole, by HTTP status and reason",
        ["status", "reason"],
        registry=metrics.registry,
    )
    in_flight = 0

    async def reject(
        rec: RawRecord, reason: str, message: str, error_class: str = "ValidationError"
    ) -> dict[str, Any]:
        metrics.events.labels(STAGE, "rejected").inc()
        await p.dead_letter(
            DeadLetter(
                key=None,
                value=rec.raw[:DLQ_MAX_VALUE],
                stage=STAGE,
                reason=reason,
                error_class=error_class,
                message=message,
                source_topic=SOURCE,
                source_offset=rec.index,
            )
        )
        return {"index": rec.index, "status": "rejected", "reason": reason, "error": message}

    async def failed(rec: RawRecord, exc: Exception) -> dict[str, Any]:
        """One record's surprise must not fail its whole batch: it is dead-lettered."""
        log.error("ingestion failed for record %s", rec.index, exc_info=exc)
        message = f"{type(exc).__name__}: {exc}"
        return await reject(rec, Reason.INTERNAL_ERROR, message, type(exc).__qualname__)

    async def enqueue(rec: RawRecord) -> dict[str, Any] | tuple[ShipmentEvent, Any]:
        """A rejected record's result, or the event handed to the producer and its ack."""
        if rec.error is not None:
            return await reject(rec, rec.reason, rec.error, "RecordError")
        try:
            event = parse_record(rec.value, now_ms=now_ms(), max_future_skew_ms=skew_ms)
        except ValidationError as exc:
            return await reject(rec, exc.reason, exc.message)
        ack = await events.send(
            key=event.shipment_id,
            value=event.to_avro(),
            headers=[(INGESTED_AT_HEADER, str(now_ms()).encode())],
        )
        return event, ack

    async def publish(records: list[RawRecord]) -> list[dict[str, Any]]:
        """Hand the records to the producer one after the other, then await their acks.

        In body order: a shipment's events land in its partition in the order the sender gave
        them, which is the order the pipeline decides in. (Sent concurrently, a body's records
        could reach the partition in any order: CREATED after the DELIVERED that followed it.)
        The registry's failures propagate: the batch is answered 503.
        """
        staged: list[tuple[RawRecord, dict[str, Any] | tuple[ShipmentEvent, Any]]] = []
        for rec in records:
            try:
                staged.append((rec, await enqueue(rec)))
            except (ServiceUnavailable, RegistryError):
                raise
            except Exception as exc:  # dead-lettered with its reason
                staged.append((rec, await failed(rec, exc)))
        results: list[dict[str, Any]] = []
        for rec, outcome in staged:
            if isinstance(outcome, dict):
                results.append(outcome)
                continue
            event, ack = outcome
            try:
                await ack
            except Exception as exc:  # dead-lettered with its reason
                results.append(await failed(rec, exc))
                continue
            metrics.events.labels(STAGE, "accepted").inc()
            results.append({"index": rec.index, "status": "accepted", "event_id": event.event_id})
        return results

    class IngestView(fweb.View):
        """Carrier webhooks and other sources post here."""

        async def post(self, request: fweb.Request, *args: Any, **kwargs: Any) -> fweb.Response:
            nonlocal in_flight
            if in_flight >= max_in_flight:
                return self.refuse(
                    Refusal(
                        503,
                        "busy",
                        f"{in_flight} requests are being handled already; retry shortly",
                        {"Retry-After": "1"},
                    )
                )
            in_flight += 1
            try:
                return await self.handle(request)
            except Refusal as refusal:
                return self.refuse(refusal)
            finally:
                in_flight -= 1

        def refuse(self, refusal: Refusal) -> fweb.Response:
            refused.labels(str(refusal.status), refusal.reason).inc()
            return self.json(refusal.body(), status=refusal.status, headers=refusal.headers)

        async def handle(self, request: fweb.Request) -> fweb.Response:
            try:
                async with asyncio.timeout(read_timeout_s):
                    body, too_large = await _read_limited(request, limit)
            except TimeoutError:
                message = f"the body did not arrive within {read_timeout_s} s; send it again"
                raise Refusal(408, "read_timeout", message) from None
            if too_large and guard.signed:
                # A truncated body cannot be authenticated: refuse it without a dead letter.
                message = f"body exceeds the limit of {limit} bytes; split it into smaller batches"
                raise Refusal(413, Reason.BODY_TOO_LARGE, message)
            carrier = guard.authenticate(request.headers, body)
            if too_large:
                message = f"body exceeds the limit of {limit} bytes; split it into smaller batches"
                await p.dead_letter(
                    DeadLetter(
                        key=None,
                        value=body[:DLQ_BODY_PREFIX],
                        stage=STAGE,
                        reason=Reason.BODY_TOO_LARGE,
                        error_class="BodyTooLarge",
                        message=message,
                        source_topic=SOURCE,
                    )
                )
                metrics.events.labels(STAGE, "rejected").inc()
                return self.json({"error": Reason.BODY_TOO_LARGE, "message": message}, status=413)
            try:
                records = split_body(body, request.headers.get("Content-Type", ""))
            except BodyError as exc:
                await p.dead_letter(
                    DeadLetter(
                        key=None,
                        value=body[:DLQ_MAX_VALUE],
                        stage=STAGE,
                        reason=exc.reason,
                        error_class="BodyError",
                        message=str(exc),
                        source_topic=SOURCE,
                    )
                )
                metrics.events.labels(STAGE, "rejected").inc()
                return self.json({"error": exc.reason, "message": str(exc)}, status=400)
            guard.admit(carrier, len(records))
            try:
                results = await publish(records)
            except (ServiceUnavailable, RegistryError) as exc:
                # Nothing is dead-lettered for it: the records are fine, the registry is not.
                log.warning("ingestion cannot encode records: %s", exc)
                message = f"the schema registry failed ({exc}); retry the batch"
                return self.json(
                    {"error": "unavailable", "message": message},
                    status=503,
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            except Exception as exc:  # the broker refused even the dead letters
                log.exception("ingestion could not write a batch of %d records", len(records))
                message = f"records could not be written to Kafka ({exc}); retry the batch"
                return self.json(
                    {"error": "unavailable", "message": message},
                    status=503,
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            accepted = sum(r["status"] == "accepted" for r in results)
            body_out = {
                "accepted": accepted,
                "rejected": len(results) - accepted,
                "results": results,
            }
            return self.json(body_out, status=202 if accepted or not results else 422)

    p.app.page("/ingest")(IngestView)
