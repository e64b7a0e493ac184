"""AvroSerde.decode_as: straight into the model, the same as the model's own reading."""

from __future__ import annotations

import io
import json
import struct
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest

from streams.codecs import registry
from streams.codecs.avro import AvroSerde
from streams.errors import DecodeError
from streams.model import EventType, ExceptionCode, ServiceLevel, ShipmentEvent
from streams.settings import Settings
from streams.topics import EVENTS

SCHEMA = registry.load_schema(EVENTS.schema_file)  # type: ignore[arg-type]
T0 = 1_767_225_600_123


class OneSchema:
    """A registry that knows one schema under every id."""

    def __init__(self, text: str) -> None:
        self.text = text

    def get_schema(self, _schema_id: int) -> Any:
        class Schema:
            schema_str = self.text

        return Schema()


def wire(schema_text: str, record: dict[str, Any], schema_id: int = 3) -> bytes:
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(buf, fastavro.parse_schema(json.loads(schema_text)), record)
    return buf.getvalue()


def serde(writer_text: str = SCHEMA) -> AvroSerde:
    return AvroSerde(Settings(), EVENTS, sr=OneSchema(writer_text))  # type: ignore[arg-type]


EVENTS_TO_TRY = [
    ShipmentEvent(
        event_id="e1", shipment_id="s1", event_type=EventType.CREATED, occurred_at=T0,
        source="wms", carrier="DHL", origin="DE", destination="NL",
        service_level=ServiceLevel.EXPRESS, promised_at=T0 + 86_400_000,
        attributes={"ref": "x", "dock": "7"},
    ),
    ShipmentEvent(
        event_id="e2", shipment_id="s1", event_type=EventType.EXCEPTION, occurred_at=T0 + 1,
        source="carrier", exception_code=ExceptionCode.DAMAGED,
    ),
    ShipmentEvent(
        event_id="e3", shipment_id="s1", event_type=EventType.ARRIVED_HUB, occurred_at=0,
        source="scanner", hub="AMS",
    ),
]  # fmt: skip


@pytest.mark.parametrize("event", EVENTS_TO_TRY, ids=lambda e: e.event_id)
def test_decode_as_gives_what_the_model_reads_from_the_full_decode(event: ShipmentEvent) -> None:
    s = serde()
    data = wire(SCHEMA, event.to_avro())
    full = s.decode(data)
    assert isinstance(full["occurred_at"], datetime)  # logical types applied there
    assert s.decode_as(data, ShipmentEvent) == ShipmentEvent.from_avro(full) == event


def test_a_record_from_an_older_writer_schema_is_resolved_against_ours() -> None:
    older = json.loads(SCHEMA)
    older["fields"] = [f for f in older["fields"] if f["name"] != "attributes"]
    record = {k: v for k, v in EVENTS_TO_TRY[1].to_avro().items() if k != "attributes"}
    got = serde(json.dumps(older)).decode_as(wire(json.dumps(older), record), ShipmentEvent)
    assert got == EVENTS_TO_TRY[1]


def test_a_record_that_does_not_fit_the_model_is_a_decode_error() -> None:
    # A writer schema whose event_type is a plain string: Avro resolution refuses it.
    other = json.loads(SCHEMA)
    for f in other["fields"]:
        if f["name"] == "event_type":
            f["type"] = "string"
    record = {**EVENTS_TO_TRY[1].to_avro(), "event_type": "TELEPORTED"}
    with pytest.raises(DecodeError) as info:
        serde(json.dumps(other)).decode_as(wire(json.dumps(other), record), ShipmentEvent)
    assert info.value.reason == "avro_decode_failed"


def test_timestamps_before_the_epoch_and_aware_datetimes_agree() -> None:
    event = ShipmentEvent(
        event_id="e4", shipment_id="s1", event_type=EventType.DELIVERED,
        occurred_at=int(datetime(1969, 7, 20, 20, 17, tzinfo=UTC).timestamp() * 1000),
        source="t",
    )  # fmt: skip
    assert serde().decode_as(wire(SCHEMA, event.to_avro()), ShipmentEvent) == event


def test_a_union_branch_outside_the_union_is_a_decode_error_not_its_last_branch() -> None:
    # e3 ends with exception_code (["null", enum]) null, branch 0, and an empty attributes map:
    # 0x00 0x00. Branch -1 (zig-zag 0x01) does not exist; fastavro took it as the last branch
    # (Python's negative index) and read 0x00 as DELAY, so the record was applied as an
    # exception. It must be dead-lettered.
    good = wire(SCHEMA, EVENTS_TO_TRY[2].to_avro())
    assert good.endswith(b"\x00\x00")
    bad = good[:-2] + b"\x01\x00\x00"
    with pytest.raises(DecodeError) as info:
        serde().decode_as(bad, ShipmentEvent)
    assert info.value.reason == "avro_decode_failed"
