"""What the load generator emits: items that say what they are.

Every item carries its kind so that whoever counts outcomes at the end (a test, the demo's
reconciliation against SPEC's "nothing lost") knows what the pipeline should have done with it:
apply it, count it as a duplicate, or send it to the dead-letter topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ItemKind(StrEnum):
    """What the pipeline is expected to do with an item."""

    #: A well-formed ShipmentEvent seen for the first time: applied to state.
    VALID = "valid"
    #: The same event (same event_id, same payload) sent again, as a webhook retry does:
    #: counted as a duplicate.
    DUPLICATE = "duplicate"
    #: A JSON object that is not a valid ShipmentEvent (see ``Item.defect``): dead-lettered.
    MALFORMED_JSON = "malformed_json"
    #: Raw bytes that cannot be decoded as a registered Avro record: dead-lettered.
    MALFORMED_BYTES = "malformed_bytes"


class Fate(StrEnum):
    """How the shipment an event belongs to was planned to end."""

    DELIVERED = "delivered"
    #: Delivered, but held up long enough that the ETA passes the promise (R3 / R4).
    LATE = "late"
    CANCELLED = "cancelled"
    #: Events simply stop, with no terminal event (R7's "no event for 48 h").
    STALLED = "stalled"
    #: An EXCEPTION with code LOST, then nothing more.
    LOST = "lost"


# Malformed defects, named so tests and dashboards can group DLQ reasons by cause.
DEFECT_MISSING_FIELD = "missing_field"
DEFECT_BAD_ENUM = "bad_enum"
DEFECT_BAD_TIMESTAMP = "bad_timestamp"
DEFECT_NOT_AVRO = "not_avro"
DEFECT_UNKNOWN_SCHEMA_ID = "unknown_schema_id"


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to send.

    ``value`` is an event dict with SPEC's field names (valid, duplicate, malformed_json) or raw
    bytes (malformed_bytes). ``key`` is the Kafka key (the shipment id), ``None`` when the
    record has none. ``fate`` is the planned end of the item's shipment (``None`` for malformed
    items); ``out_of_order`` is set on an event emitted after a later event of its shipment.
    """

    kind: ItemKind
    key: str | None
    value: dict[str, Any] | bytes
    fate: Fate | None = None
    out_of_order: bool = False
    defect: str | None = None

    @property
    def event(self) -> dict[str, Any]:
        """The value as an event dict; raises for raw-bytes items, which have no fields."""
        if isinstance(self.value, bytes):
            msg = f"a {self.kind} item carries raw bytes, not an event dict"
            raise TypeError(msg)
        return self.value
