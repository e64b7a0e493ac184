"""Avro in the Confluent wire format: magic byte 0, 4-byte big-endian schema id, body.

Schema ids are cached both ways, so the registry is asked once per schema and never per
message: the writer's id is registered (or looked up) on first encode, and each unknown
reader-side id is fetched once and parsed with the local schema as reader schema.

A serde made with ``defer_lookups=True`` never asks the registry while decoding: an id not
loaded yet raises ``SchemaNotLoaded``, and :func:`decode_off_loop` asks in a thread and decodes
again. The agents decode in the worker's event loop, where a registry call (up to its 10 s
timeout, again every retry during an outage) stopped every task of the worker with it.

Only the registry's 404 is a verdict on a record (``unknown_schema_id``, remembered). Every
other failure (5xx, 401/403, a timeout, no connection) raises ``RegistryUnavailable``, which
callers retry and nothing remembers: dead-lettering for it would throw good records away, and
caching it would keep doing so until a restart.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import logging
import struct
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import cavro
import fastavro
import msgspec
from confluent_kafka.schema_registry import SchemaRegistryClient
from fastavro.schema import to_parsing_canonical_form

from streams.codecs import registry
from streams.errors import (
    DecodeError,
    Reason,
    RegistryError,
    RegistryUnavailable,
    SchemaNotLoaded,
    ServiceUnavailable,
)
from streams.settings import Settings
from streams.topics import TopicSpec

log = logging.getLogger(__name__)

MAGIC = 0
HEADER = struct.Struct(">bI")
_T = TypeVar("_T")
_R = TypeVar("_R")


class AvroSerde:
    """Encode and decode one topic's values against its registered schema."""

    def __init__(
        self,
        settings: Settings,
        spec: TopicSpec,
        sr: SchemaRegistryClient | None = None,
        on_registry_error: Callable[[str], None] | None = None,
        defer_lookups: bool = False,
    ) -> None:
        """``on_registry_error(kind)`` is told of every failed registry call (for a metric).

        ``defer_lookups``: decoding an id not loaded yet raises ``SchemaNotLoaded`` instead of
        asking the registry (see :func:`decode_off_loop`).
        """
        assert spec.schema_file is not None  # noqa: S101  # Avro topics only
        self.settings = settings
        self.spec = spec
        self.subject = settings.topic(spec.name) + "-value"
        self.schema_text = registry.load_schema(spec.schema_file)
        self.schema = fastavro.parse_schema(json.loads(self.schema_text))
        plain = _without_logical_types(json.loads(self.schema_text))
        self.plain_schema = fastavro.parse_schema(plain)
        # Records written with our own schema need no resolution: cavro reads them in about
        # half of fastavro's time (its per-call set-up was most of a 78-byte event's cost).
        self._own_plain = cavro.Schema(plain, record_decodes_to_dict=True)
        self._sr = sr
        self._lock = threading.Lock()
        self._writer_id: int | None = None
        self._readers: dict[tuple[int, bool], Any] = {}
        #: Writer ids whose schema is ours (read without resolution).
        self._same: set[int] = set()
        self._canonical = to_parsing_canonical_form(json.loads(self.schema_text))
        self._unknown: dict[int, DecodeError] = {}
        """Ids the registry said it does not have: asked once, not once per bad record."""
        self._on_registry_error = on_registry_error
        self.defer_lookups = defer_lookups

    @property
    def sr(self) -> SchemaRegistryClient:
        """The registry client, made on first use so building a serde costs nothing."""
        if self._sr is None:
            self._sr = registry.client(self.settings)
        return self._sr

    def writer_id(self) -> int:
        """Our schema's id, registered once per process."""
        if self._writer_id is None:
            with self._lock:
                if self._writer_id is None:
                    self._writer_id = self._ask(
                        lambda: registry.register(self.settings, self.spec, self.sr)
                    )
        return self._writer_id

    def _ask(self, call: Callable[[], _T]) -> _T:
        """A registry call, counted by kind when it fails."""
        try:
            return call()
        except (RegistryError, RegistryUnavailable) as exc:
            if self._on_registry_error is not None:
                self._on_registry_error(exc.kind)
            raise

    def encode(self, record: dict[str, Any]) -> bytes:
        """Serialize a record (a dict shaped like the schema)."""
        buf = io.BytesIO()
        buf.write(HEADER.pack(MAGIC, self.writer_id()))
        fastavro.schemaless_writer(buf, self.schema, record)
        return buf.getvalue()

    def _reader_for(self, schema_id: int, plain: bool = False) -> Any:
        """The parsed writer schema of ``schema_id`` (``plain``: without logical types)."""
        reader = self._readers.get((schema_id, plain))
        if reader is None:
            if schema_id in self._unknown:
                raise self._unknown[schema_id]
            if self.defer_lookups:
                raise SchemaNotLoaded(schema_id)
            self._load(schema_id)
            reader = self._readers[(schema_id, plain)]
        return reader

    def load(self, schema_id: int) -> None:
        """Ask the registry for ``schema_id`` and keep the answer (blocking: call it off the loop).

        A 404 raises ``DecodeError`` (unknown_schema_id, remembered while fewer than 10,000 ids
        are); ``RegistryUnavailable`` propagates.
        """
        if (schema_id, False) in self._readers or schema_id in self._unknown:
            return
        self._load(schema_id)

    def _load(self, schema_id: int) -> None:
        try:
            text = self._ask(lambda: registry.writer_schema(self.settings, self.sr, schema_id))
        except RegistryError as exc:
            if exc.http_status != 404:
                # Any other refusal of a lookup by id is the registry's problem, not the
                # record's: retried like an outage, so the operator hears of it (alert).
                msg = f"registry refused to look up schema id {schema_id}: {exc}"
                raise RegistryUnavailable(msg, exc.kind, exc.http_status) from exc
            msg = f"unknown schema id {schema_id}: {exc}"
            err = DecodeError(Reason.UNKNOWN_SCHEMA_ID, msg)
            if len(self._unknown) < 10_000:
                self._unknown[schema_id] = err
            raise err from exc
        # RegistryUnavailable propagates: the record is fine, the registry is not.
        if to_parsing_canonical_form(json.loads(text)) == self._canonical:
            # Our own schema: nothing to resolve (resolution costs 3.4 of 8.6 us a record).
            self._same.add(schema_id)
        # Readers last, the unresolved one last of all: a decode that finds a reader finds
        # ``_same`` set already, and ``load`` takes the unresolved one as the sign both are in.
        for flag in (True, False):
            parsed = json.loads(text)
            self._readers[(schema_id, flag)] = fastavro.parse_schema(
                _without_logical_types(parsed) if flag else parsed
            )

    def decode(self, data: bytes | None, *, plain: bool = False) -> dict[str, Any]:
        """Deserialize wire-format bytes; raises DecodeError with a DLQ reason.

        ``plain``: logical types are not applied (timestamps stay epoch-ms ints, as the model
        keeps them), which saves making a datetime per timestamp only to undo it.
        """
        if data is None or len(data) < HEADER.size:
            msg = f"value of {0 if data is None else len(data)} bytes is too short for Avro"
            raise DecodeError(Reason.NOT_AVRO, msg)
        magic, schema_id = HEADER.unpack_from(data)
        if magic != MAGIC:
            msg = f"magic byte is {magic}, not 0: not the Confluent Avro wire format"
            raise DecodeError(Reason.NOT_AVRO, msg)
        writer = self._reader_for(schema_id, plain)
        same = schema_id in self._same
        reader = None if same else self.plain_schema if plain else self.schema
        try:
            if same and plain:
                out = self._own_plain.binary_decode(data[HEADER.size :])
            else:
                out = fastavro.schemaless_reader(io.BytesIO(data[HEADER.size :]), writer, reader)
        except ServiceUnavailable:
            raise
        except Exception as exc:  # fastavro raises many types on corrupt bodies
            msg = f"Avro body does not decode with schema id {schema_id}: {exc}"
            raise DecodeError(Reason.AVRO_DECODE_FAILED, msg) from exc
        if not isinstance(out, dict):
            msg = f"schema id {schema_id} does not describe a record"
            raise DecodeError(Reason.AVRO_DECODE_FAILED, msg)
        return out

    def decode_as(self, data: bytes | None, cls: type[_R]) -> _R:
        """Deserialize straight into ``cls``, a model type shaped like the schema.

        msgspec builds it from the plain record (C speed: the per-field conversion in Python
        was a third of what decoding a record cost).
        """
        record = self.decode(data, plain=True)
        try:
            return msgspec.convert(record, cls)
        except msgspec.ValidationError as exc:
            msg = f"Avro record does not fit {cls.__name__}: {exc}"
            raise DecodeError(Reason.AVRO_DECODE_FAILED, msg) from exc


def _without_logical_types(schema: Any) -> Any:
    """The schema (parsed JSON) with every ``logicalType`` left out."""
    if isinstance(schema, dict):
        return {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_without_logical_types(v) for v in schema]
    return schema


async def decode_off_loop(serde: AvroSerde, decode: Callable[[], _R], retry_s: float) -> _R:
    """``decode()`` with ``serde``'s registry lookups in a thread, waiting out outages.

    For decodes in an event loop with a ``defer_lookups`` serde: each schema the decode lacks
    is loaded by a thread while the loop goes on; while the registry is unreachable the record
    waits (it is not at fault, so it is never dead-lettered for it), asked again every
    ``retry_s``. A 404 stays a verdict: the decode raises ``DecodeError`` (unknown_schema_id).
    """
    while True:
        try:
            return decode()
        except SchemaNotLoaded as missing:
            await _ask_off_loop(functools.partial(serde.load, missing.schema_id), retry_s)


async def warm_up(serde: AvroSerde, retry_s: float) -> None:
    """Register our schema and load it as a reader, in a thread, before the first record.

    Otherwise the first encode registers it and the first decode of our own records fetches
    it, each a blocking registry call inside the event loop: after a worker started, its first
    decisions waited ~1.6 s for one on the 2-core machine. While the registry is unreachable
    this waits (nothing could be encoded anyway); a refusal (say, an incompatible schema) is
    logged and left to the encodes, which report it per record as before.
    """
    try:
        await _ask_off_loop(lambda: serde.load(serde.writer_id()), retry_s)
    except (RegistryError, DecodeError) as exc:
        log.error("schema of %s not usable: %s", serde.subject, exc)


async def _ask_off_loop(call: Callable[[], object], retry_s: float) -> None:
    """``call()`` (registry requests) in a thread, again every ``retry_s`` while unreachable."""
    while True:
        try:
            await asyncio.to_thread(call)
            return
        except ServiceUnavailable as exc:
            log.warning("%s; retrying in %.0fs", exc, retry_s)
            await asyncio.sleep(retry_s)
