from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import fastavro
import pytest

from streams.model import (
    Action,
    ActionResult,
    ActionStatus,
    Decision,
    EventType,
    ExceptionCode,
    Hub,
    ServiceLevel,
    ShipmentEvent,
    ms_to_iso,
    to_epoch_ms,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
T0 = 1_767_225_600_123  # 2026-01-01T00:00:00.123Z


def roundtrip(schema_file: str, record: dict) -> dict:
    schema = fastavro.parse_schema(json.loads((SCHEMAS / schema_file).read_text()))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, record)
    buf.seek(0)
    read = fastavro.schemaless_reader(buf, schema, schema)
    assert isinstance(read, dict)
    return read


EVENT = ShipmentEvent(
    event_id="e1",
    shipment_id="s1",
    event_type=EventType.CREATED,
    occurred_at=T0,
    source="warehouse",
    carrier="acme",
    origin="EU-W",
    destination="EU-N",
    service_level=ServiceLevel.EXPRESS,
    promised_at=T0 + 86_400_000,
    exception_code=ExceptionCode.WEATHER,
    attributes={"ref": "42"},
)


def test_shipment_event_avro_roundtrip_turns_datetimes_back_into_ms() -> None:
    read = roundtrip("shipstream.ShipmentEvent.avsc", EVENT.to_avro())
    assert isinstance(read["occurred_at"], datetime)
    assert ShipmentEvent.from_avro(read) == EVENT


def test_shipment_event_minimal_roundtrip_keeps_defaults() -> None:
    ev = ShipmentEvent(
        event_id="e2",
        shipment_id="s1",
        event_type=EventType.PICKED_UP,
        occurred_at=T0,
        source="tracking",
    )
    assert ShipmentEvent.from_avro(roundtrip("shipstream.ShipmentEvent.avsc", ev.to_avro())) == ev
    assert ShipmentEvent.from_json(json.loads(json.dumps(ev.to_json()))) == ev


def test_hub_roundtrip() -> None:
    hub = Hub(
        code="AMS",
        region="EU-W",
        capacity_per_window=10,
        alternate="RTM",
        transit_hours={"EU-N": 24},
    )
    assert Hub.from_avro(roundtrip("shipstream.Hub.avsc", hub.to_avro())) == hub


def test_decision_roundtrip() -> None:
    d = Decision(
        decision_id="d1",
        shipment_id="s1",
        action=Action.REROUTE,
        rule="R5",
        reason="full",
        based_on_event_id="e1",
        event_occurred_at=T0,
        decided_at=T0 + 5,
        eta=T0 + 9,
        target_hub="RTM",
        details={"k": "11"},
    )
    assert Decision.from_avro(roundtrip("shipstream.Decision.avsc", d.to_avro())) == d


def test_action_result_roundtrip() -> None:
    r = ActionResult(
        decision_id="d1",
        shipment_id="s1",
        action=Action.CLOSE,
        endpoint="dispatch",
        status=ActionStatus.FAILED_EXHAUSTED,
        attempts=5,
        http_status=503,
        completed_at=T0,
        error="timeout",
    )
    assert ActionResult.from_avro(roundtrip("shipstream.ActionResult.avsc", r.to_avro())) == r


def test_to_epoch_ms_accepts_aware_datetimes_in_any_zone() -> None:
    cet = timezone(timedelta(hours=1))
    assert to_epoch_ms(datetime(2026, 1, 1, 1, 0, 0, 123_000, tzinfo=cet)) == T0
    assert to_epoch_ms(datetime(2026, 1, 1, 0, 0, 0, 123_999, tzinfo=UTC)) == T0  # floors


def test_to_epoch_ms_refuses_naive_datetimes_and_bools() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_epoch_ms(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(TypeError):
        to_epoch_ms(True)


def test_ms_to_iso() -> None:
    assert ms_to_iso(T0) == "2026-01-01T00:00:00.123Z"
