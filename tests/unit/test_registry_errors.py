"""Only the registry's 404 is a verdict on a record; every other failure is retried."""

from __future__ import annotations

import asyncio
import io
import struct
import threading
from typing import Any

import fastavro
import httpx
import pytest
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streams.codecs import registry
from streams.codecs.avro import AvroSerde, decode_off_loop, warm_up
from streams.errors import (
    DecodeError,
    RegistryError,
    RegistryUnavailable,
    SchemaNotLoaded,
    ServiceUnavailable,
)
from streams.settings import Settings
from streams.topics import EVENTS

SETTINGS = Settings()


def fail(exc: BaseException) -> Any:
    def call(*_: object) -> None:
        raise exc

    return call


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (SchemaRegistryError(500, 50001, "boom"), "server_error"),
        (SchemaRegistryError(503, -1, "Unknown Schema Registry Error: <html>"), "server_error"),
        (SchemaRegistryError(429, -1, "slow down"), "server_error"),
        (SchemaRegistryError(401, 40101, "unauthorized"), "auth"),
        (SchemaRegistryError(403, 40301, "forbidden"), "auth"),
        (httpx.ReadTimeout("timed out"), "timeout"),
        (httpx.ConnectTimeout("timed out"), "timeout"),
        (httpx.ConnectError("refused"), "connection"),
        (ConnectionResetError("reset"), "connection"),
        (ValueError("Expecting value: line 1 column 1"), "bad_response"),
    ],
)
def test_failures_that_may_pass_are_retryable(exc: BaseException, kind: str) -> None:
    with pytest.raises(RegistryUnavailable) as info:
        registry._call("fetch schema id 7", SETTINGS, fail(exc))
    assert info.value.kind == kind
    assert isinstance(info.value, ServiceUnavailable)  # what processing retries on


@pytest.mark.parametrize(
    ("status", "kind"), [(404, "not_found"), (409, "refused"), (422, "refused")]
)
def test_final_answers_are_registry_errors(status: int, kind: str) -> None:
    with pytest.raises(RegistryError) as info:
        registry._call("register", SETTINGS, fail(SchemaRegistryError(status, 0, "no")))
    assert (info.value.http_status, info.value.kind) == (status, kind)


class FakeRegistry:
    """Answers get_schema with the queued outcomes, in order."""

    def __init__(self, *outcomes: BaseException | str) -> None:
        self.outcomes = list(outcomes)
        self.asked = 0

    def get_schema(self, schema_id: int) -> Any:
        self.asked += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome

        class Schema:
            schema_str = outcome

        return Schema()


def record_with_schema_id(schema_id: int) -> bytes:
    return struct.pack(">bI", 0, schema_id) + b"\x00"


def serde_with(sr: FakeRegistry, kinds: list[str]) -> AvroSerde:
    return AvroSerde(SETTINGS, EVENTS, sr=sr, on_registry_error=kinds.append)  # type: ignore[arg-type]


def test_a_404_is_unknown_schema_id_and_remembered() -> None:
    kinds: list[str] = []
    sr = FakeRegistry(SchemaRegistryError(404, 40403, "Schema not found"))
    serde = serde_with(sr, kinds)
    for _ in range(3):
        with pytest.raises(DecodeError) as info:
            serde.decode(record_with_schema_id(99))
        assert info.value.reason == "unknown_schema_id"
    assert sr.asked == 1 and kinds == ["not_found"]


@pytest.mark.parametrize(
    "exc",
    [
        SchemaRegistryError(503, 50301, "unavailable"),
        SchemaRegistryError(401, 40101, "unauthorized"),
        SchemaRegistryError(400, 40001, "bad request"),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("refused"),
    ],
)
def test_other_failures_are_retryable_counted_and_never_remembered(exc: BaseException) -> None:
    kinds: list[str] = []
    schema = registry.load_schema(EVENTS.schema_file)  # type: ignore[arg-type]
    sr = FakeRegistry(exc, exc, schema)
    serde = serde_with(sr, kinds)
    for _ in range(2):
        with pytest.raises(RegistryUnavailable):
            serde.decode(record_with_schema_id(5))
    # the registry is back: the same id decodes (into a record the schema reads or not,
    # but not as unknown_schema_id)
    with pytest.raises(DecodeError) as info:
        serde.decode(record_with_schema_id(5))
    assert info.value.reason == "avro_decode_failed"
    assert sr.asked == 3 and len(kinds) == 2


class ThreadNoting(FakeRegistry):
    """A FakeRegistry that notes the thread each lookup ran in."""

    def __init__(self, *outcomes: BaseException | str) -> None:
        super().__init__(*outcomes)
        self.threads: list[int] = []

    def get_schema(self, schema_id: int) -> Any:
        self.threads.append(threading.get_ident())
        return super().get_schema(schema_id)


def test_a_deferring_serde_never_asks_the_registry_from_the_decoding_thread() -> None:
    schema = registry.load_schema(EVENTS.schema_file)  # type: ignore[arg-type]
    sr = ThreadNoting(schema)
    serde = AvroSerde(SETTINGS, EVENTS, sr=sr, defer_lookups=True)  # type: ignore[arg-type]
    with pytest.raises(SchemaNotLoaded) as info:
        serde.decode(record_with_schema_id(5))
    assert info.value.schema_id == 5 and sr.asked == 0
    serde.load(5)
    with pytest.raises(DecodeError) as decoded:  # loaded: now the body is the record's problem
        serde.decode(record_with_schema_id(5))
    assert decoded.value.reason == "avro_decode_failed" and sr.asked == 1


async def test_off_loop_decodes_ask_in_a_thread_wait_out_outages_and_keep_404_verdicts() -> None:
    kinds: list[str] = []
    schema = registry.load_schema(EVENTS.schema_file)  # type: ignore[arg-type]
    outage = SchemaRegistryError(503, 50301, "unavailable")
    sr = ThreadNoting(outage, schema, SchemaRegistryError(404, 40403, "Schema not found"))
    serde = AvroSerde(SETTINGS, EVENTS, sr=sr, on_registry_error=kinds.append, defer_lookups=True)  # type: ignore[arg-type]
    body = io.BytesIO()
    fastavro.schemaless_writer(
        body,
        serde.schema,
        {"event_id": "e1", "shipment_id": "S1", "event_type": "PICKED_UP",
         "occurred_at": 1_732_838_400_000, "source": "test"},
    )  # fmt: skip
    good = record_with_schema_id(5)[:5] + body.getvalue()  # schema id 5: ours, not loaded yet
    decoded = await decode_off_loop(serde, lambda: serde.decode(good, plain=True), retry_s=0.01)
    assert decoded["event_id"] == "e1"
    assert sr.asked == 2 and kinds == ["server_error"]  # the outage, then the schema
    assert threading.get_ident() not in sr.threads
    with pytest.raises(DecodeError) as info:  # a 404 is still a verdict on the record
        await decode_off_loop(serde, lambda: serde.decode(record_with_schema_id(7)), 0.01)
    assert info.value.reason == "unknown_schema_id"


async def test_an_unknown_id_past_the_remembered_ones_is_still_a_verdict_not_a_loop() -> None:
    sr = ThreadNoting(SchemaRegistryError(404, 40403, "Schema not found"))
    serde = AvroSerde(SETTINGS, EVENTS, sr=sr, defer_lookups=True)  # type: ignore[arg-type]
    serde._unknown.update({i: DecodeError("unknown_schema_id", "x") for i in range(10_000, 20_000)})
    with pytest.raises(DecodeError) as info:
        await asyncio.wait_for(
            decode_off_loop(serde, lambda: serde.decode(record_with_schema_id(7)), 0.01), 5
        )
    assert info.value.reason == "unknown_schema_id" and sr.asked == 1


async def test_warm_up_registers_and_loads_our_schema_off_the_loop_waiting_out_outages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serde = AvroSerde(SETTINGS, EVENTS, sr=object())  # type: ignore[arg-type]
    outcomes: list[BaseException | int] = [RegistryUnavailable("down", "connection"), 5]
    calls: list[tuple[str, int | None, int]] = []

    def writer_id() -> int:
        calls.append(("writer_id", None, threading.get_ident()))
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(serde, "writer_id", writer_id)
    monkeypatch.setattr(serde, "load", lambda i: calls.append(("load", i, threading.get_ident())))
    await warm_up(serde, retry_s=0.01)
    assert [c[:2] for c in calls] == [("writer_id", None), ("writer_id", None), ("load", 5)]
    assert threading.get_ident() not in {thread for *_, thread in calls}


async def test_warm_up_leaves_a_refused_schema_to_the_encodes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    serde = AvroSerde(SETTINGS, EVENTS, sr=object())  # type: ignore[arg-type]
    monkeypatch.setattr(serde, "writer_id", fail(RegistryError("incompatible", 409)))
    await warm_up(serde, retry_s=0.01)  # returns: the worker goes on, each encode reports it
    assert "not usable" in caplog.text
