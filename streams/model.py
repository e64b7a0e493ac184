"""The domain types of SPEC, one per Avro contract, with their Avro and JSON dict forms.

Inside the domain every timestamp is an ``int`` of epoch milliseconds UTC: it is what the
wire carries (``timestamp-millis``), it orders and hashes cheaply, and it cannot be naive.
Conversion happens only at the edges, here (``from_avro``) and in ingestion validation.

Each type's Avro dict (``to_avro``/``from_avro``, and the same dict as JSON) is derived from its
fields by :class:`AvroRecord`: enums travel as their symbols, ``EpochMs`` fields as int ms
(read from fastavro's aware datetimes too), maps as dicts.

Field names and enum symbols are the contract of ``schemas/*.avsc``; keep them exactly.
"""

from __future__ import annotations

import operator
import types
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Self, Union, get_args, get_origin, get_type_hints

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


class EventType(StrEnum):
    """Lifecycle step of a shipment (Avro enum ``EventType``)."""

    CREATED = "CREATED"
    PICKED_UP = "PICKED_UP"
    ARRIVED_HUB = "ARRIVED_HUB"
    DEPARTED_HUB = "DEPARTED_HUB"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    EXCEPTION = "EXCEPTION"
    CANCELLED = "CANCELLED"


class ServiceLevel(StrEnum):
    """Promised speed of a shipment (Avro enum ``ServiceLevel``)."""

    STANDARD = "STANDARD"
    EXPRESS = "EXPRESS"


class ExceptionCode(StrEnum):
    """Why an EXCEPTION event happened (Avro enum ``ExceptionCode``)."""

    DELAY = "DELAY"
    DAMAGED = "DAMAGED"
    ADDRESS_ISSUE = "ADDRESS_ISSUE"
    LOST = "LOST"
    WEATHER = "WEATHER"


class Action(StrEnum):
    """What a decision asks the outside world to do (Avro enum ``Action``)."""

    EXPEDITE = "EXPEDITE"
    REROUTE = "REROUTE"
    HOLD = "HOLD"
    NOTIFY_CUSTOMER = "NOTIFY_CUSTOMER"
    ESCALATE = "ESCALATE"
    CLOSE = "CLOSE"


class ActionStatus(StrEnum):
    """Outcome of delivering a decision (Avro enum ``ActionStatus``)."""

    DELIVERED = "DELIVERED"
    DUPLICATE = "DUPLICATE"
    FAILED_PERMANENT = "FAILED_PERMANENT"
    FAILED_EXHAUSTED = "FAILED_EXHAUSTED"


def to_epoch_ms(value: datetime | int) -> int:
    """Epoch milliseconds of an aware datetime (what fastavro reads) or of an int (kept).

    Naive datetimes are refused rather than guessed: a wrong zone would silently shift every
    ETA. ``bool`` is refused too, although Python treats it as an ``int``.
    """
    if isinstance(value, bool):
        msg = "a timestamp must be an int of epoch ms or an aware datetime, not a bool"
        raise TypeError(msg)
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            msg = f"naive datetime {value.isoformat()} has no zone; give it one (UTC)"
            raise ValueError(msg)
        # Integer arithmetic: float timestamps lose milliseconds far from 1970.
        return (value - EPOCH) // _ONE_MS
    msg = f"a timestamp must be an int of epoch ms or an aware datetime, got {type(value)}"
    raise TypeError(msg)


def ms_to_iso(ms: int) -> str:
    """ISO-8601 UTC text of epoch milliseconds, for humans (logs, decision details)."""
    return (
        (EPOCH + timedelta(milliseconds=ms))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


class _TimestampMillis:
    """Marks an ``int`` field that Avro carries as ``timestamp-millis``."""


TIMESTAMP_MILLIS = _TimestampMillis()
#: Epoch milliseconds UTC, a ``timestamp-millis`` in Avro.
EpochMs = Annotated[int, TIMESTAMP_MILLIS]

_Convert = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


def _symbol(value: StrEnum) -> str:
    return value.value


def _converters(hint: Any) -> tuple[_Convert, _Convert]:
    """(read from the Avro dict, write to it) for a field of type ``hint`` (never None)."""
    if get_origin(hint) is Annotated and TIMESTAMP_MILLIS in hint.__metadata__:
        return to_epoch_ms, _same
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return hint, _symbol
    if get_origin(hint) is Mapping:
        key, value = get_args(hint)
        return (lambda m: {key(k): value(v) for k, v in (m or {}).items()}), dict
    if hint is int:
        return int, _same
    return _same, _same


def _optional(convert: _Convert) -> _Convert:
    return lambda value: None if value is None else convert(value)


_Read = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class _Codec:
    """How one record type maps to its Avro dict, built once from its fields."""

    names: tuple[str, ...]
    values: Callable[[Any], tuple[Any, ...]]
    writers: tuple[_Convert | None, ...]
    """None: the value goes as it is (most fields; skipping the call keeps ``to_avro`` cheap)."""
    readers: tuple[tuple[str, _Read], ...]

    def write(self, record: object) -> dict[str, Any]:
        values = self.values(record)
        return {
            name: value if write is None else write(value)
            for name, value, write in zip(self.names, values, self.writers, strict=True)
        }

    def read(self, d: Mapping[str, Any]) -> dict[str, Any]:
        return {name: read(d) for name, read in self.readers}


def _required(name: str, read: _Convert) -> _Read:
    if read is _same:
        return operator.itemgetter(name)

    def get(d: Mapping[str, Any]) -> Any:
        return read(d[name])

    return get


def _present(name: str, read: _Convert) -> _Read:
    """A field with a default: absent reads as None (a map as empty)."""

    def get(d: Mapping[str, Any]) -> Any:
        return read(d.get(name))

    return get


_CODECS: dict[type, _Codec] = {}


def _codec(cls: type) -> _Codec:
    """The codec of ``cls``, derived from its fields' types on first use."""
    known = _CODECS.get(cls)
    if known is not None:
        return known
    hints = get_type_hints(cls, include_extras=True)
    names: list[str] = []
    writers: list[_Convert | None] = []
    readers: list[tuple[str, _Read]] = []
    for f in fields(cls):
        hint = hints[f.name]
        optional = get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)
        if optional:
            (hint,) = [a for a in get_args(hint) if a is not type(None)]
        read, write = _converters(hint)
        if optional and read is not _same:
            read = _optional(read)
        required = f.default is MISSING and f.default_factory is MISSING
        names.append(f.name)
        writers.append(None if write is _same else _optional(write) if optional else write)
        readers.append((f.name, (_required if required else _present)(f.name, read)))
    codec = _Codec(tuple(names), operator.attrgetter(*names), tuple(writers), tuple(readers))
    _CODECS[cls] = codec
    return codec


class AvroRecord:
    """``to_avro``/``from_avro`` (and the same dict as JSON) derived from a dataclass's fields."""

    __slots__ = ()

    def to_avro(self) -> dict[str, Any]:
        """The dict fastavro writes: enums as symbols, timestamps as int ms."""
        return _codec(type(self)).write(self)

    @classmethod
    def from_avro(cls, d: Mapping[str, Any]) -> Self:
        """Build from what fastavro reads (aware datetimes) or from ``to_avro``/JSON (ints)."""
        return cls(**_codec(cls).read(d))

    def to_json(self) -> dict[str, Any]:
        """The JSON form (internal topics, tables): the Avro dict, which holds only JSON types."""
        return self.to_avro()

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Self:
        """Inverse of ``to_json``."""
        return cls.from_avro(d)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentEvent(AvroRecord):
    """One event of a shipment's lifecycle (``shipments.events``)."""

    event_id: str
    shipment_id: str
    event_type: EventType
    occurred_at: EpochMs
    source: str
    carrier: str | None = None
    hub: str | None = None
    origin: str | None = None
    destination: str | None = None
    service_level: ServiceLevel | None = None
    promised_at: EpochMs | None = None
    exception_code: ExceptionCode | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Hub(AvroRecord):
    """A hub of the network (``reference.hubs``, keyed by code)."""

    code: str
    region: str
    capacity_per_window: int
    alternate: str | None = None
    transit_hours: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision(AvroRecord):
    """A decision taken by a rule (``shipments.decisions``)."""

    decision_id: str
    shipment_id: str
    action: Action
    rule: str
    reason: str
    based_on_event_id: str
    event_occurred_at: EpochMs
    decided_at: EpochMs
    eta: EpochMs | None = None
    target_hub: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionResult(AvroRecord):
    """Outcome of delivering one decision to its endpoint (``shipments.actions``)."""

    decision_id: str
    shipment_id: str
    action: Action
    endpoint: str
    status: ActionStatus
    attempts: int
    http_status: int | None = None
    completed_at: EpochMs
    error: str | None = None
