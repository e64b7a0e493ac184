from __future__ import annotations

from typing import Any

import pytest

from streams.agents.ingestion.validation import ValidationError, parse_record, validate_event
from streams.errors import ShipstreamError
from streams.model import EventType, ServiceLevel, ShipmentEvent

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "e1",
        "shipment_id": "s1",
        "event_type": "ARRIVED_HUB",
        "occurred_at": "2026-01-01T00:00:00Z",
        "source": "carrier:acme",
        "hub": "AMS",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def test_iso_and_epoch_ms_give_the_same_event() -> None:
    assert parse_record(record()) == parse_record(record(occurred_at=T0))
    assert parse_record(record()).occurred_at == T0


def test_iso_offsets_are_converted_to_utc() -> None:
    ev = parse_record(record(occurred_at="2026-01-01T02:00:00.5+02:00"))
    assert ev.occurred_at == T0 + 500


def test_full_record_is_typed() -> None:
    ev = parse_record(
        record(
            event_type="CREATED",
            hub=None,
            service_level="EXPRESS",
            promised_at=T0 + 1,
            attributes={"ref": "7"},
        )
    )
    assert ev.event_type is EventType.CREATED
    assert ev.service_level is ServiceLevel.EXPRESS
    assert ev.promised_at == T0 + 1 and ev.attributes == {"ref": "7"}


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ({"shipment_id": ...}, "missing_field", "shipment_id"),
        ({"event_id": None}, "missing_field", "event_id"),
        ({"event_id": "  "}, "empty_field", "event_id"),
        ({"carrier": ""}, "empty_field", "carrier"),
        ({"event_id": "x" * 129}, "too_long", "event_id"),
        ({"shipment_id": 7}, "wrong_type", "shipment_id"),
        ({"colour": "red"}, "unknown_field", "colour"),
        ({"event_type": "LANDED"}, "invalid_enum", "event_type"),
        ({"event_type": "arrived_hub"}, "invalid_enum", "event_type"),
        ({"occurred_at": "2026-01-01T00:00:00"}, "naive_timestamp", "occurred_at"),
        ({"occurred_at": "yesterday"}, "invalid_timestamp", "occurred_at"),
        ({"occurred_at": 1.5e12}, "wrong_type", "occurred_at"),
        ({"occurred_at": True}, "wrong_type", "occurred_at"),
        ({"occurred_at": 1_767_225_600}, "out_of_range", "occurred_at"),  # seconds, not ms
        ({"promised_at": "2100-01-01T00:00:00Z"}, "out_of_range", "promised_at"),
        ({"attributes": {"n": 1}}, "invalid_attributes", "attributes"),
        ({"attributes": ["a"]}, "invalid_attributes", "attributes"),
        ({"hub": None}, "hub_required", "hub"),
        ({"event_type": "EXCEPTION", "hub": None}, "exception_code_required", "exception_code"),
    ],
)
def test_rejections_name_reason_and_field(changes: dict, reason: str, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_record(record(**changes))
    assert (info.value.reason, info.value.field) == (reason, field)
    assert field in info.value.message


def test_non_objects_are_rejected() -> None:
    with pytest.raises(ValidationError, match="not_an_object"):
        parse_record(["not", "an", "object"])


def test_validation_error_is_a_value_error_and_a_shipstream_error() -> None:
    with pytest.raises(ValueError):
        parse_record(None)
    assert issubclass(ValidationError, ShipstreamError)


def test_validate_event_checks_avro_decoded_events_too() -> None:
    ev = ShipmentEvent(
        event_id="e1",
        shipment_id="s1",
        event_type=EventType.DEPARTED_HUB,
        occurred_at=T0,
        source="tracking",
    )
    with pytest.raises(ValidationError) as info:
        validate_event(ev)
    assert info.value.reason == "hub_required"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"event_id": "e\ud800"}, "event_id"),
        ({"shipment_id": "\udc00"}, "shipment_id"),
        ({"hub": "A\ud83d"}, "hub"),
        ({"attributes": {"k\ud800": "v"}}, "attributes"),
        ({"attributes": {"k": "\udfff"}}, "attributes"),
    ],
)
def test_lone_surrogates_are_rejected_as_invalid_unicode(changes: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_record(record(**changes))
    assert (info.value.reason, info.value.field) == ("invalid_unicode", field)
    info.value.message.encode()  # the message itself is safe to put in a header


def test_a_lone_surrogate_in_a_field_name_is_invalid_unicode() -> None:
    with pytest.raises(ValidationError) as info:
        parse_record({**record(), "\ud800x": 1})
    assert info.value.reason == "invalid_unicode"
    info.value.message.encode()


def test_messages_quote_huge_values_only_in_part() -> None:
    with pytest.raises(ValidationError) as info:
        parse_record({**record(), "x" * 100_000: 1})
    assert info.value.reason == "unknown_field" and len(info.value.message) < 200
    with pytest.raises(ValidationError) as info:
        parse_record(record(event_type="Z" * 100_000))
    assert info.value.reason == "invalid_enum" and len(info.value.message) < 300


def test_long_attribute_names_are_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        parse_record(record(attributes={"k" * 257: "v"}))
    assert info.value.reason == "invalid_attributes"


H_MS = 3_600_000


def test_event_times_past_the_clock_plus_skew_are_rejected() -> None:
    now = T0
    ok = record(occurred_at=now + H_MS)
    assert parse_record(ok, now_ms=now, max_future_skew_ms=H_MS).occurred_at == now + H_MS
    with pytest.raises(ValidationError) as info:
        parse_record(record(occurred_at=now + H_MS + 1), now_ms=now, max_future_skew_ms=H_MS)
    assert (info.value.reason, info.value.field) == ("future_timestamp", "occurred_at")
    # promised_at is meant to be in the future
    parse_record(record(promised_at=now + 100 * H_MS), now_ms=now, max_future_skew_ms=H_MS)


def test_the_future_check_uses_the_wall_clock_by_default_and_can_be_off() -> None:
    far = record(occurred_at="2099-06-01T00:00:00Z")
    with pytest.raises(ValidationError, match="future_timestamp"):
        parse_record(far)
    ev = parse_record(far, max_future_skew_ms=None)
    with pytest.raises(ValidationError, match="future_timestamp"):
        validate_event(ev)  # what processing calls, unchanged: the default skew applies
    validate_event(ev, now_ms=ev.occurred_at)  # a replay judged by the record's own time
