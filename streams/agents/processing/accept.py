"""What processing accepts from ``shipments.events``: one definition, also for the checkers.

A record is accepted when its value decodes (Confluent-framed Avro of a known schema), the
event passes ``validate_event`` judged by the record's own timestamp, and the record's key is
the event's shipment_id. Processing applies what this accepts and dead-letters the rest;
``shipstream reconcile`` and the chaos verifier recompute the same verdict from the topic, so
all three must call this function and nothing else. The record's timestamp (not the clock) is
the "now" of the future-skew check, so a replay, or a reconcile run hours later, reaches the
same verdict as the first time.
"""

from __future__ import annotations

from streams.agents.ingestion.validation import ValidationError, validate_event
from streams.codecs.avro import AvroSerde
from streams.errors import Reason
from streams.model import ShipmentEvent


def accept(
    serde: AvroSerde,
    key: bytes | None,
    value: bytes | None,
    timestamp_ms: int,
    max_future_skew_ms: int,
) -> ShipmentEvent:
    """The event a record of ``shipments.events`` carries, if processing accepts it.

    Raises ``DecodeError`` or ``ValidationError`` (with the DLQ reason) for a record to
    dead-letter, and ``ServiceUnavailable`` while the registry cannot be asked (retry: the
    record is not at fault).
    """
    event = serde.decode_as(value, ShipmentEvent)
    validate_event(event, now_ms=timestamp_ms, max_future_skew_ms=max_future_skew_ms)
    shipment_key = key.decode(errors="replace") if key else None
    if shipment_key != event.shipment_id:
        msg = (
            f"record key {shipment_key!r} differs from shipment_id {event.shipment_id!r}; "
            "produce keyed by shipment_id"
        )
        raise ValidationError(Reason.KEY_MISMATCH, msg, "shipment_id")
    return event
