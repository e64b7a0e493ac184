"""The platform on the real broker and registry: partitioning, codec, compatibility."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka.admin import NewTopic
from confluent_kafka.schema_registry import Schema

from streams.codecs import registry
from streams.codecs.avro import AvroSerde
from streams.errors import DecodeError, RegistryError
from streams.kafka import admin, reader
from streams.kafka.producer import make_producer
from streams.settings import Settings
from streams.topics import CATALOGUE, EVENTS, changelog_names

pytestmark = pytest.mark.integration


def test_catalogue_topics_are_created_idempotently(settings: Settings) -> None:
    first = admin.ensure_topics(settings)
    again = admin.ensure_topics(settings)
    assert sorted(first) == sorted(
        [settings.topic(s.name) for s in CATALOGUE] + changelog_names(settings)
    )
    assert again == []
    meta = admin.admin(settings).list_topics(timeout=10).topics
    assert len(meta[settings.topic(EVENTS.name)].partitions) == settings.partitions


def test_confluent_and_aiokafka_put_a_key_on_the_same_partition(settings: Settings) -> None:
    topic = settings.topic("partitioning")
    client = admin.admin(settings)
    client.create_topics([NewTopic(topic, 12, 1)])[topic].result()
    keys = [f"SHP-{i:05d}" for i in range(300)]
    confluent_parts: dict[str, int] = {}
    producer = make_producer(settings)
    for k in keys:
        producer.produce(
            topic,
            key=k.encode(),
            value=b"c",
            on_delivery=lambda err, msg: confluent_parts.__setitem__(
                msg.key().decode(), msg.partition()
            ),
        )
    assert producer.flush(30) == 0

    async def aiokafka_parts() -> dict[str, int]:
        p = AIOKafkaProducer(bootstrap_servers=settings.broker)
        await p.start()
        try:
            return {k: (await p.send_and_wait(topic, b"a", key=k.encode())).partition for k in keys}
        finally:
            await p.stop()

    aio = asyncio.run(aiokafka_parts())
    assert confluent_parts == aio
    assert len(set(aio.values())) == 12
    # and both agree with what the broker stored
    stored = {(r.key or b"").decode(): r.partition for r in reader.read_all(settings, topic)}
    assert stored == aio


def test_avro_wire_format_round_trip_through_the_registry(settings: Settings) -> None:
    serde = AvroSerde(settings, EVENTS)
    record = {
        "event_id": "e1",
        "shipment_id": "S1",
        "event_type": "CREATED",
        "occurred_at": 1_700_000_000_000,
        "source": "warehouse",
    }
    data = serde.encode(record)
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == serde.writer_id()
    decoded = AvroSerde(settings, EVENTS).decode(data)  # a fresh serde fetches by id
    assert decoded["event_id"] == "e1" and decoded["attributes"] == {}
    with pytest.raises(DecodeError) as exc:
        serde.decode(b"\x00\x7f\xff\xff\xf0" + data[5:])
    assert exc.value.reason == "unknown_schema_id"
    with pytest.raises(DecodeError) as exc:
        serde.decode(b"plain text, not avro")
    assert exc.value.reason == "not_avro"


def test_registry_refuses_a_change_that_breaks_backward_compatibility(
    settings: Settings,
) -> None:
    assert EVENTS.schema_file is not None
    subject = settings.topic(EVENTS.name) + "-value"
    registry.register(settings, EVENTS)
    registry.set_compatibility(settings, subject, "BACKWARD")
    schema = json.loads(EVENTS.schema_file.read_text())
    sr = registry.client(settings)
    # adding a field WITH a default is fine ...
    ok = dict(
        schema,
        fields=[*schema["fields"], {"name": "note", "type": ["null", "string"], "default": None}],
    )
    assert sr.test_compatibility(subject, Schema(json.dumps(ok), "AVRO"))
    # ... a new required field is not: old records have no value for it
    bad = dict(schema, fields=[*schema["fields"], {"name": "weight_kg", "type": "int"}])
    with pytest.raises(Exception) as exc:
        sr.register_schema(subject, Schema(json.dumps(bad), "AVRO"))
    assert "409" in str(exc.value) or "compat" in str(exc.value).lower()
    with pytest.raises(RegistryError):
        registry._call(
            "register", settings, sr.register_schema, subject, Schema(json.dumps(bad), "AVRO")
        )
