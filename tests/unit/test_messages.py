"""streams.messages: the batch records between roles."""

from __future__ import annotations

import orjson
import pytest

from streams import messages
from streams.model import EventType, ShipmentEvent


def update(n: int, **kw: object) -> messages.EventUpdate:
    event = ShipmentEvent(
        event_id=f"e{n}",
        shipment_id="s1",
        event_type=EventType.ARRIVED_HUB,
        occurred_at=1_700_000_000_000 + n,
        source="t",
        hub="AMS",
    )
    return messages.EventUpdate(event=event, seq=n, ingested_at=5, **kw)  # type: ignore[arg-type]


def test_a_batch_decodes_to_the_same_messages_in_the_same_order() -> None:
    batch = [
        update(1),
        messages.Tick(),
        update(2, arrival=messages.Arrival(k=4, capacity=3, alternate="RTM")),
        update(3, arrival=messages.Arrival(k=None)),
    ]
    assert messages.decode_batch(messages.encode_batch(batch)) == batch


def test_a_record_with_one_message_also_decodes_as_a_batch() -> None:
    assert messages.decode_batch(messages.encode(messages.Tick())) == [messages.Tick()]
    assert messages.decode_batch(messages.encode(update(7))) == [update(7)]


@pytest.mark.parametrize(
    "value",
    [b"not json", b"[1]", orjson.dumps([{"k": "u"}]), orjson.dumps({"k": "x"}), b"[{}]"],
)
def test_anything_else_is_a_message_error(value: bytes) -> None:
    with pytest.raises(messages.MessageError):
        messages.decode_batch(value)
