"""Validation of raw shipment events: JSON records from HTTP, and decoded Avro records.

``parse_record`` turns one JSON object (field names of SPEC, timestamps as ISO-8601 text with
a zone or as epoch milliseconds) into a ``ShipmentEvent`` or raises ``ValidationError``.
``validate_event`` holds the semantic checks that apply to every event whatever its source,
so that Avro-decoded events (which the schema only types) meet the same bar.

Rejections carry a stable snake_case ``reason`` (a metric label and DLQ header value) and a
human ``message`` that says what to fix. Unknown fields are rejected rather than dropped:
a misspelt ``promised_at`` silently ignored would turn into wrong decisions much later.

An event time more than ``max_future_skew_ms`` past the clock is rejected
(``future_timestamp``): stream time only moves forward, so one event dated next year would
make R7 see every open shipment of its partition as silent for 48 h.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from streams.errors import Reason, ShipstreamError
from streams.model import (
    EventType,
    ExceptionCode,
    ServiceLevel,
    ShipmentEvent,
    to_epoch_ms,
)
from streams.settings import Settings

MAX_ID_LEN = 128
MAX_TEXT_LEN = 256
MAX_ATTRIBUTES = 64
MAX_ATTRIBUTE_VALUE_LEN = 1024
MIN_TS_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
DEFAULT_MAX_FUTURE_SKEW_MS = Settings.model_fields["max_future_skew_s"].default * 1000
#: How much of an offending value a message quotes: enough to find it, not the whole body.
SHOWN_CHARS = 80

_IDS = ("event_id", "shipment_id")
_OPTIONAL_TEXT = ("carrier", "hub", "origin", "destination")
_TIMESTAMPS = ("occurred_at", "promised_at")
FIELDS = frozenset(ShipmentEvent.__dataclass_fields__)
_HUB_EVENTS = (EventType.ARRIVED_HUB, EventType.DEPARTED_HUB)
#: Every text field with its length limit (checked once per event in processing).
_TEXT_LIMITS = tuple(
    (name, MAX_ID_LEN if name in _IDS else MAX_TEXT_LEN)
    for name in (*_IDS, "source", *_OPTIONAL_TEXT)
)
_T = TypeVar("_T")
_E = TypeVar("_E", bound=StrEnum)


class Invalid(StrEnum):
    """Why a record was rejected: stable snake_case codes for metrics and DLQ headers."""

    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_FIELD = "unknown_field"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    EMPTY_FIELD = "empty_field"
    TOO_LONG = "too_long"
    OUT_OF_RANGE = "out_of_range"
    INVALID_ENUM = "invalid_enum"
    INVALID_TIMESTAMP = "invalid_timestamp"
    NAIVE_TIMESTAMP = "naive_timestamp"
    INVALID_ATTRIBUTES = "invalid_attributes"
    HUB_REQUIRED = "hub_required"
    EXCEPTION_CODE_REQUIRED = "exception_code_required"
    FUTURE_TIMESTAMP = "future_timestamp"
    INVALID_UNICODE = Reason.INVALID_UNICODE


class ValidationError(ShipstreamError, ValueError):
    """A record is not a valid ShipmentEvent; ``reason`` is a stable snake_case code."""

    def __init__(self, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = str(reason)
        self.message = message
        self.field = field


def parse_record(
    obj: object,
    *,
    now_ms: int | None = None,
    max_future_skew_ms: int | None = DEFAULT_MAX_FUTURE_SKEW_MS,
) -> ShipmentEvent:
    """Parse one JSON-decoded record into a valid event, or raise ``ValidationError``.

    ``now_ms`` and ``max_future_skew_ms`` are those of :func:`validate_event`.
    """
    if not isinstance(obj, Mapping):
        raise ValidationError(
            Invalid.NOT_AN_OBJECT, f"a record must be a JSON object, got {_kind(obj)}"
        )
    for key in obj:
        if not isinstance(key, str) or not _is_utf8(key):
            raise ValidationError(
                Invalid.INVALID_UNICODE,
                f"field name {_show(key)} is not valid Unicode text (a lone surrogate?)",
            )
    unknown = sorted(str(k) for k in obj if k not in FIELDS)
    if unknown:
        name = unknown[0][:SHOWN_CHARS]
        raise ValidationError(
            Invalid.UNKNOWN_FIELD, f"field {_show(unknown[0])} is not part of ShipmentEvent", name
        )
    event = ShipmentEvent(
        event_id=_present(_text(obj, "event_id"), "event_id"),
        shipment_id=_present(_text(obj, "shipment_id"), "shipment_id"),
        event_type=_present(_enum(obj, "event_type", EventType), "event_type"),
        occurred_at=_present(_timestamp(obj, "occurred_at"), "occurred_at"),
        source=_present(_text(obj, "source"), "source"),
        carrier=_text(obj, "carrier"),
        hub=_text(obj, "hub"),
        origin=_text(obj, "origin"),
        destination=_text(obj, "destination"),
        service_level=_enum(obj, "service_level", ServiceLevel),
        promised_at=_timestamp(obj, "promised_at"),
        exception_code=_enum(obj, "exception_code", ExceptionCode),
        attributes=_attributes(obj.get("attributes")),
    )
    validate_event(event, now_ms=now_ms, max_future_skew_ms=max_future_skew_ms)
    return event


def validate_event(
    ev: ShipmentEvent,
    *,
    now_ms: int | None = None,
    max_future_skew_ms: int | None = DEFAULT_MAX_FUTURE_SKEW_MS,
) -> None:
    """Semantic checks for any event (JSON or Avro): ids, bounds, type-specific fields.

    ``occurred_at`` may be at most ``max_future_skew_ms`` past ``now_ms`` (default: the wall
    clock); ``max_future_skew_ms=None`` turns that check off. A consumer that wants the same
    verdict on a replay passes the record's own timestamp as ``now_ms``.
    """
    for name, limit in _TEXT_LIMITS:
        value = getattr(ev, name)
        if value is None:
            continue
        if not value or value.isspace():  # what strip() would empty, without a copy
            raise ValidationError(Invalid.EMPTY_FIELD, f"field '{name}' must not be empty", name)
        if len(value) > limit:
            raise ValidationError(
                Invalid.TOO_LONG,
                f"field '{name}' has {len(value)} characters, at most {limit}",
                name,
            )
    for name in _TIMESTAMPS:
        ms = getattr(ev, name)
        if ms is not None and not MIN_TS_MS <= ms < MAX_TS_MS:
            raise ValidationError(
                Invalid.OUT_OF_RANGE,
                f"field '{name}' is {ms} ms, outside years 2000..2099 (epoch milliseconds?)",
                name,
            )
    if max_future_skew_ms is not None:
        now = _wall_clock_ms() if now_ms is None else now_ms
        if ev.occurred_at > now + max_future_skew_ms:
            raise ValidationError(
                Invalid.FUTURE_TIMESTAMP,
                f"field 'occurred_at' is {ev.occurred_at - now} ms in the future, at most "
                f"{max_future_skew_ms} ms of clock skew is accepted; check the sender's clock",
                "occurred_at",
            )
    if ev.event_type in _HUB_EVENTS and ev.hub is None:
        raise ValidationError(
            Invalid.HUB_REQUIRED, f"field 'hub' is required for {ev.event_type.value} events", "hub"
        )
    if ev.event_type is EventType.EXCEPTION and ev.exception_code is None:
        raise ValidationError(
            Invalid.EXCEPTION_CODE_REQUIRED,
            "field 'exception_code' is required for EXCEPTION events",
            "exception_code",
        )


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _show(value: object) -> str:
    """``repr`` cut short: messages go to DLQ headers and responses, not whole bodies."""
    shown = repr(value)
    return shown if len(shown) <= SHOWN_CHARS else f"{shown[:SHOWN_CHARS]}...({len(shown)} chars)"


def _is_utf8(value: str) -> bool:
    """False for text UTF-8 cannot encode: a lone surrogate, which a JSON escape can make."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(obj: Mapping[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is not None and not isinstance(value, str):
        raise ValidationError(
            Invalid.WRONG_TYPE, f"field '{name}' must be a string, got {_kind(value)}", name
        )
    if value is not None and not _is_utf8(value):
        raise ValidationError(
            Invalid.INVALID_UNICODE,
            f"field '{name}' is {_show(value)}, not valid Unicode text (a lone surrogate?)",
            name,
        )
    return value


def _present(value: _T | None, name: str) -> _T:
    if value is None:
        raise ValidationError(Invalid.MISSING_FIELD, f"field '{name}' is required", name)
    return value


def _enum(obj: Mapping[str, Any], name: str, enum: type[_E]) -> _E | None:
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, str) and value in enum.__members__:
        return enum(value)
    allowed = ", ".join(enum.__members__)
    raise ValidationError(
        Invalid.INVALID_ENUM, f"field '{name}' is {_show(value)}, expected one of {allowed}", name
    )


def _timestamp(obj: Mapping[str, Any], name: str) -> int | None:
    """Epoch ms from an int of epoch ms or from ISO-8601 text that names its zone."""
    value = obj.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ValidationError(
            Invalid.WRONG_TYPE,
            f"field '{name}' must be ISO-8601 text or integer epoch milliseconds, "
            f"got {_kind(value)}",
            name,
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            Invalid.INVALID_TIMESTAMP,
            f"field '{name}' is {_show(value)}, not an ISO-8601 timestamp",
            name,
        ) from None
    if parsed.tzinfo is None:
        # A naive time is ambiguous; guessing UTC would shift events by the sender's offset.
        raise ValidationError(
            Invalid.NAIVE_TIMESTAMP,
            f"field '{name}' is {_show(value)} without a zone; add 'Z' or an offset "
            "(e.g. '2024-05-01T10:00:00Z')",
            name,
        )
    return to_epoch_ms(parsed)


def _attributes(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(
            Invalid.INVALID_ATTRIBUTES,
            f"field 'attributes' must be an object of strings, got {_kind(value)}",
            "attributes",
        )
    if len(value) > MAX_ATTRIBUTES:
        raise ValidationError(
            Invalid.INVALID_ATTRIBUTES,
            f"field 'attributes' has {len(value)} entries, at most {MAX_ATTRIBUTES}",
            "attributes",
        )
    for key, item in value.items():
        too_long = isinstance(item, str) and len(item) > MAX_ATTRIBUTE_VALUE_LEN
        if not isinstance(key, str) or not isinstance(item, str) or too_long:
            raise ValidationError(
                Invalid.INVALID_ATTRIBUTES,
                f"attributes[{_show(key)}] must be a string of at most "
                f"{MAX_ATTRIBUTE_VALUE_LEN} characters, got {_kind(item)}",
                "attributes",
            )
        if len(key) > MAX_TEXT_LEN:
            raise ValidationError(
                Invalid.INVALID_ATTRIBUTES,
                f"attributes[{_show(key)}]: a name has {len(key)} characters, "
                f"at most {MAX_TEXT_LEN}",
                "attributes",
            )
        if not _is_utf8(key) or not _is_utf8(item):
            raise ValidationError(
                Invalid.INVALID_UNICODE,
                f"attributes[{_show(key)}] is not valid Unicode text (a lone surrogate?)",
                "attributes",
            )
    return dict(value)
