"""What processing accepts from shipments.events: also reconcile's and the verifier's verdict."""

from __future__ import annotations

from typing import Any, cast

import pytest

from streams.agents.ingestion.validation import ValidationError
from streams.agents.processing.accept import accept
from streams.errors import DecodeError, Reason, ServiceUnavailable
from streams.model import EventType, ShipmentEvent

T0 = 1_795_600_000_000
HOUR_MS = 3_600_000
EVENT = ShipmentEvent(
    event_id="e1",
    shipment_id="SHP-1",
    event_type=EventType.CREATED,
    occurred_at=T0,
    source="warehouse",
)


class FakeSerde:
    """Answers one decoded record, or raises the error it is given."""

    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        self.answer = answer

    def decode(self, _data: bytes | None) -> dict[str, Any]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def decode_as(self, data: bytes | None, cls: Any) -> Any:
        # The model's own reading of the record (tests/unit/test_avro_decode.py pins the
        # serde's decode_as to it).
        return cls.from_avro(self.decode(data))


def run(answer: dict[str, Any] | Exception, key: bytes | None, timestamp_ms: int = T0) -> Any:
    return accept(cast(Any, FakeSerde(answer)), key, b"...", timestamp_ms, HOUR_MS)


def test_a_valid_event_keyed_by_its_shipment_is_accepted() -> None:
    assert run(EVENT.to_avro(), b"SHP-1") == EVENT


def test_a_key_that_is_not_the_shipment_id_is_refused() -> None:
    with pytest.raises(ValidationError) as err:
        run(EVENT.to_avro(), b"SHP-2")
    assert err.value.reason == Reason.KEY_MISMATCH
    with pytest.raises(ValidationError):
        run(EVENT.to_avro(), None)


def test_the_future_is_judged_by_the_records_own_timestamp() -> None:
    late = {**EVENT.to_avro(), "occurred_at": T0 + 2 * HOUR_MS}
    with pytest.raises(ValidationError):
        run(late, b"SHP-1", timestamp_ms=T0)
    assert run(late, b"SHP-1", timestamp_ms=T0 + HOUR_MS).occurred_at == T0 + 2 * HOUR_MS


def test_decode_errors_and_an_unreachable_registry_pass_through() -> None:
    with pytest.raises(DecodeError):
        run(DecodeError(Reason.NOT_AVRO, "not Avro"), b"SHP-1")
    with pytest.raises(ServiceUnavailable):
        run(ServiceUnavailable("registry down"), b"SHP-1")
