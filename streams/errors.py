"""The root of shipstream's exceptions, so callers can catch one type."""

from __future__ import annotations


class ShipstreamError(Exception):
    """Base of every error shipstream raises on purpose."""


class RegistryError(ShipstreamError):
    """The schema registry answered that it will not do this (a 404, a 409, ...): final.

    ``http_status`` is the registry's status code; ``kind`` the ``registry_errors`` metric label.
    """

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.kind = "not_found" if http_status == 404 else "refused"


class DecodeError(ShipstreamError):
    """A record's bytes could not be decoded; ``reason`` is the DLQ reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ServiceUnavailable(ShipstreamError):
    """The broker or the registry cannot be reached; the message says how to start it."""


class SchemaNotLoaded(ShipstreamError):
    """A record's writer schema is not loaded, and this serde does not ask the registry itself.

    Raised by an ``AvroSerde(defer_lookups=True)``, whose decodes run in an event loop: the
    caller loads the schema off the loop (``streams.codecs.avro.decode_off_loop``) and decodes
    again, so a slow or unreachable registry never stalls the worker.
    """

    def __init__(self, schema_id: int) -> None:
        super().__init__(f"schema id {schema_id} is not loaded yet")
        self.schema_id = schema_id


class RegistryUnavailable(ServiceUnavailable):
    """The registry failed in a way that may pass (5xx, 401/403, timeout, no connection): retry.

    Never a verdict on a record, so never a reason to dead-letter one or to cache the answer.
    ``kind`` is the ``registry_errors`` metric label: ``server_error``, ``auth``, ``timeout``,
    ``connection`` or ``bad_response``.
    """

    def __init__(self, message: str, kind: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.http_status = http_status


class Reason:
    """DLQ reason codes: stable, snake_case, what ``error.reason`` headers carry."""

    NOT_AVRO = "not_avro"
    UNKNOWN_SCHEMA_ID = "unknown_schema_id"
    AVRO_DECODE_FAILED = "avro_decode_failed"
    INVALID_EVENT = "invalid_event"
    MALFORMED_JSON = "malformed_json"
    INVALID_UNICODE = "invalid_unicode"
    TOO_DEEP = "too_deep"
    NUMBER_TOO_LARGE = "number_too_large"
    DUPLICATE_FIELD = "duplicate_field"
    BODY_TOO_LARGE = "body_too_large"
    MISSING_KEY = "missing_key"
    KEY_MISMATCH = "key_mismatch"
    DELIVERY_FAILED_PERMANENT = "delivery_failed_permanent"
    DELIVERY_FAILED_EXHAUSTED = "delivery_failed_exhausted"
    INTERNAL_ERROR = "internal_error"
