"""Bad input of the kinds SPEC says must be dead-lettered without stopping a worker.

Malformed records use shipment ids of their own (``…-bad-NNNNNN``) so that, if one were wrongly
accepted, it would show up as an unknown shipment instead of corrupting a real one.
"""

from __future__ import annotations

import json
import random
import struct
from typing import Any

from streams.tools.loadgen.items import (
    DEFECT_BAD_ENUM,
    DEFECT_BAD_TIMESTAMP,
    DEFECT_MISSING_FIELD,
    DEFECT_NOT_AVRO,
    DEFECT_UNKNOWN_SCHEMA_ID,
    Item,
    ItemKind,
)

DEFECT_WEIGHTS = {
    DEFECT_MISSING_FIELD: 0.25,
    DEFECT_BAD_ENUM: 0.25,
    DEFECT_BAD_TIMESTAMP: 0.2,
    DEFECT_NOT_AVRO: 0.2,
    DEFECT_UNKNOWN_SCHEMA_ID: 0.1,
}
REQUIRED_FIELDS = ("event_id", "shipment_id", "event_type", "occurred_at", "source")
BAD_ENUMS = (
    ("event_type", "TELEPORTED"),
    ("service_level", "OVERNIGHT"),
    ("exception_code", "ALIENS"),
)
BAD_TIMESTAMPS = ("2024-02-30T25:61:00Z", "next tuesday", "1732838400000ms", "")
#: Far above any id a registry hands out, so the lookup fails rather than decoding garbage.
UNKNOWN_SCHEMA_ID_BASE = 2_000_000_000


def malformed_item(rng: random.Random, shipment_id: str, template: dict[str, Any]) -> Item:
    """A malformed copy of ``template`` (an event dict) under ``shipment_id``."""
    defect = rng.choices(list(DEFECT_WEIGHTS), weights=list(DEFECT_WEIGHTS.values()))[0]
    record = {**template, "shipment_id": shipment_id, "event_id": f"{shipment_id}-00"}
    if defect == DEFECT_NOT_AVRO:
        if rng.random() < 0.5:
            # A producer writing JSON to an Avro topic: the most common real mistake.
            raw = json.dumps(record).encode()
        else:
            raw = bytes([rng.randrange(1, 256)]) + rng.randbytes(rng.randrange(8, 64))
        return Item(ItemKind.MALFORMED_BYTES, shipment_id, raw, defect=defect)
    if defect == DEFECT_UNKNOWN_SCHEMA_ID:
        header = b"\x00" + struct.pack(">I", UNKNOWN_SCHEMA_ID_BASE + rng.randrange(1000))
        raw = header + rng.randbytes(rng.randrange(16, 64))
        return Item(ItemKind.MALFORMED_BYTES, shipment_id, raw, defect=defect)
    key: str | None = shipment_id
    if defect == DEFECT_MISSING_FIELD:
        missing = rng.choice(REQUIRED_FIELDS)
        del record[missing]
        if missing == "shipment_id":
            key = None
    elif defect == DEFECT_BAD_ENUM:
        field, value = rng.choice(BAD_ENUMS)
        record[field] = value
    else:
        record["occurred_at"] = rng.choice(BAD_TIMESTAMPS)
    return Item(ItemKind.MALFORMED_JSON, key, record, defect=defect)
