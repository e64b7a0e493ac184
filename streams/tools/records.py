"""Record values as the tools show them: decoded when they can be, raw (text or base64) when not.

Values are decoded by what the topic carries: Avro topics of the catalogue through their
:class:`~streams.codecs.avro.AvroSerde` (the registry's writer schema, our reader schema), any
other Confluent-framed value by its schema id alone, JSON as JSON, and the rest as text or,
when not UTF-8, base64. Shared by ``shipstream tail`` and ``shipstream dlq``.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient

from streams import topics as catalogue
from streams.codecs import registry
from streams.codecs.avro import HEADER, MAGIC, AvroSerde
from streams.errors import DecodeError, Reason, RegistryError
from streams.settings import Settings


def text_or_base64(data: bytes) -> tuple[str, str]:
    """``(text, "text")`` when printable UTF-8, else ``(base64, "base64")``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(data).decode(), "base64"
    if any(ord(c) < 32 and c not in "\t\n\r" for c in text):
        return base64.b64encode(data).decode(), "base64"
    return text, "text"


def bytes_field(data: bytes | None) -> str | dict[str, str] | None:
    """A key or header value in JSON: text, or ``{"base64": …}`` when binary."""
    if data is None:
        return None
    text, kind = text_or_base64(data)
    return text if kind == "text" else {"base64": text}


def framed_schema_id(data: bytes) -> int | None:
    """The schema id of a Confluent-framed value, or None when it is not framed."""
    if len(data) <= HEADER.size:
        return None
    magic, schema_id = HEADER.unpack_from(data)
    return int(schema_id) if magic == MAGIC else None


def raw_value(data: bytes) -> dict[str, Any]:
    """An undecoded value: JSON when it is a JSON object or array, else text or base64."""
    text, kind = text_or_base64(data)
    if kind == "text" and text.lstrip()[:1] in ("{", "["):
        try:
            return {"value": json.loads(text), "format": "json"}
        except ValueError:
            pass  # text that merely starts like JSON: shown as text
    return {"value": text, "format": kind}


class ValueDecoder:
    """Decodes the values of one topic; registry lookups are cached per schema id."""

    def __init__(self, settings: Settings, spec: catalogue.TopicSpec | None) -> None:
        self.settings = settings
        self.spec = spec
        self._serde = AvroSerde(settings, spec) if spec and spec.schema_file else None
        self._sr: SchemaRegistryClient | None = None
        self._writers: dict[int, Any] = {}
        self._unknown: dict[int, DecodeError] = {}

    def decode(self, data: bytes | None) -> dict[str, Any]:
        """``{"value": …, "format": …}`` plus ``schema_id`` or ``error`` when they apply."""
        if data is None:
            return {"value": None, "format": "null"}
        try:
            if self._serde is not None:
                value = self._serde.decode(data)
                return {"value": value, "format": "avro", "schema_id": framed_schema_id(data)}
            if self.spec is not None and self.spec.value == "json":
                try:
                    return {"value": json.loads(data), "format": "json"}
                except ValueError as exc:
                    return {**raw_value(data), "error": f"not JSON: {exc}"}
            schema_id = framed_schema_id(data)
            if schema_id is not None:
                value = self._by_schema_id(schema_id, data)
                return {"value": value, "format": "avro", "schema_id": schema_id}
        except DecodeError as exc:
            return {**raw_value(data), "error": str(exc)}
        return raw_value(data)

    def _by_schema_id(self, schema_id: int, data: bytes) -> Any:
        writer = self._writers.get(schema_id)
        if writer is None:
            if schema_id in self._unknown:
                raise self._unknown[schema_id]
            if self._sr is None:
                self._sr = registry.client(self.settings)
            try:
                text = registry.writer_schema(self.settings, self._sr, schema_id)
            except RegistryError as exc:
                err = DecodeError(Reason.UNKNOWN_SCHEMA_ID, f"unknown schema id {schema_id}")
                if exc.http_status == 404:  # anything else may answer next time
                    self._unknown[schema_id] = err
                raise err from exc
            writer = fastavro.parse_schema(json.loads(text))
            self._writers[schema_id] = writer
        try:
            return fastavro.schemaless_reader(io.BytesIO(data[HEADER.size :]), writer, None)
        except Exception as exc:  # fastavro raises many types on corrupt bodies
            msg = f"Avro body does not decode with schema id {schema_id}: {exc}"
            raise DecodeError(Reason.AVRO_DECODE_FAILED, msg) from exc
