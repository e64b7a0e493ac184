"""The operations commands on the real stack: topics, lag, tail, dlq, get.

Each test has its own topic prefix and app id (the ``settings`` fixture); commands run in
process through ``main`` with the test's settings in the environment. One worker start, in the
``get`` test.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streams.codecs import registry
from streams.codecs.avro import AvroSerde
from streams.dead_letter import DeadLetter
from streams.kafka import admin, reader
from streams.kafka.events import EventPublisher
from streams.kafka.producer import make_producer
from streams.model import EventType, ShipmentEvent
from streams.settings import Settings
from streams.tools.cli.main import main
from streams.tools.console import iso_ms
from streams.topics import CATALOGUE, DLQ, EVENTS
from tests.integration.conftest import ROOT, env_of, provision

pytestmark = pytest.mark.integration

T0 = 1_795_600_000_000

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    """Run ``shipstream ARGS`` with the test's settings: (exit code, stdout, stderr)."""

    def run(*argv: str, s: Settings | None = None) -> tuple[int, str, str]:
        for key, value in (s or settings).to_env().items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        code = main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def event(event_id: str, shipment_id: str, offset_ms: int = 0) -> ShipmentEvent:
    return ShipmentEvent(
        event_id=event_id,
        shipment_id=shipment_id,
        event_type=EventType.CREATED,
        occurred_at=T0 + offset_ms,
        source="warehouse",
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_topics_shows_the_prefixed_catalogue(settings: Settings, cli: Cli) -> None:
    admin.ensure_topics(settings)
    code, out, err = cli("topics", "--json")
    assert code == 0, err
    topics = {t["name"]: t for t in json.loads(out)}
    assert list(topics) == [settings.topic(s.name) for s in CATALOGUE]
    events, dlq, hubs = (
        topics[settings.topic(n)] for n in (EVENTS.name, DLQ.name, "reference.hubs")
    )
    assert events["partitions"] == 4 and events["config"]["cleanup.policy"] == "delete"
    assert [o["partition"] for o in events["offsets"]] == [0, 1, 2, 3]
    assert dlq["config"]["retention.ms"] == str(30 * 24 * 3600 * 1000)
    assert hubs["partitions"] == 1 and hubs["config"]["cleanup.policy"] == "compact"
    assert all(t["exists"] and t["drift"] == [] for t in topics.values())

    code, out, _ = cli("topics")
    assert code == 0 and f"{settings.topic(DLQ.name)}  " in out and "30d" in out
    code, out, _ = cli("topics", "--all", "--brief")
    assert code == 0 and settings.topic(EVENTS.name) in out and "__consumer_offsets" in out


def test_lag_of_a_group_that_committed_by_hand(settings: Settings, cli: Cli) -> None:
    admin.ensure_topics(settings)
    topic, group = settings.topic(EVENTS.name), f"{settings.app_id}-cli-lag"
    producer = make_producer(settings)
    for p, n in ((0, 10), (1, 3)):
        for i in range(n):
            producer.produce(topic, key=f"k{i}".encode(), value=b"x", partition=p)
    assert producer.flush(30) == 0
    consumer = Consumer(
        {"bootstrap.servers": settings.broker, "group.id": group, "enable.auto.commit": False}
    )
    consumer.commit(
        offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 3)], asynchronous=False
    )
    consumer.close()
    try:
        code, out, err = cli("lag", "--json")
        assert code == 0, err
        mine = json.loads(out)["groups"][group]
        by_partition = {r["partition"]: r for r in mine["partitions"] if r["topic"] == topic}
        assert by_partition[0] == {
            "topic": topic,
            "partition": 0,
            "committed": 4,
            "log_end_offset": 10,
            "log_start_offset": 0,
            "lag": 6,
        }
        assert by_partition[1]["lag"] == 0 and mine["total_lag"] == 6

        code, out, _ = cli("lag", "--group", group)
        rows = [line.split() for line in out.splitlines()]
        assert code == 0 and [group, topic, "0", "4", "10", "6"] in rows
        assert [group, "(total)", "6"] in rows and out.rstrip().endswith("total lag: 6")

        code, _, err = cli("lag", "--group", f"{settings.app_id}-nobody")
        assert code == 1 and "no offsets and no members" in err
    finally:
        client = admin.admin(settings)
        for fut in client.delete_consumer_groups([group], request_timeout=30).values():
            try:
                fut.result(40)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                    raise


def test_tail_decodes_avro_and_filters_by_key_and_time(settings: Settings, cli: Cli) -> None:
    admin.ensure_topics(settings)
    pub = EventPublisher(settings)
    for i, sid in enumerate(["S1", "S2", "S1"]):
        pub.publish(event(f"early-{i}", sid, i))
    pub.flush()
    time.sleep(1.1)
    middle = int(time.time() * 1000)
    for i, sid in enumerate(["S1", "S2"]):
        pub.publish(event(f"late-{i}", sid, 10 + i))
    pub.flush()

    code, out, _ = cli("tail", "events")
    lines = json_lines(out)
    assert code == 0 and len(lines) == 5
    assert {x["format"] for x in lines} == {"avro"}
    assert [x["value"]["event_id"] for x in lines if x["key"] == "S1"] == [
        "early-0",
        "early-2",
        "late-0",
    ]
    first = lines[0]
    assert first["value"]["event_type"] == "CREATED"
    assert (
        first["value"]["occurred_at"].endswith("Z") and "shipstream.ingested_at" in first["headers"]
    )

    code, out, _ = cli("tail", settings.topic(EVENTS.name), "--key", "S2")
    assert [x["value"]["event_id"] for x in json_lines(out)] == ["early-1", "late-1"]

    for start in (str(middle), iso_ms(middle)):
        code, out, _ = cli("tail", "shipments.events", "--from-time", start)
        assert sorted(x["value"]["event_id"] for x in json_lines(out)) == ["late-0", "late-1"]

    code, out, _ = cli("tail", "events", "-n", "2")  # the last two over all partitions
    assert sorted(x["value"]["event_id"] for x in json_lines(out)) == ["late-0", "late-1"]

    p = json_lines(out)[0]["partition"]
    code, out, _ = cli("tail", "events", "--partition", str(p), "--from-offset", "0", "-n", "1")
    assert [(x["partition"], x["offset"]) for x in json_lines(out)] == [(p, 0)]


def test_tail_follows_new_records_until_ctrl_c(settings: Settings) -> None:
    admin.ensure_topics(settings)
    pub = EventPublisher(settings)
    pub.publish(event("old", "F1"))
    pub.flush()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.tools.cli.main", "tail", "events", "-f"],
        cwd=ROOT,
        env=env_of(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(6)  # started and assigned at the end
        pub.publish(event("new", "F1"))
        pub.flush()
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the record is printed
        assert json.loads(line)["value"]["event_id"] == "new"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _dead_letters(settings: Settings) -> tuple[list[tuple[bytes, bytes]], dict[str, Any]]:
    """Three processing dead letters (two of key K1, in order) and two from HTTP ingestion."""
    serde = AvroSerde(settings, EVENTS)
    source = settings.topic(EVENTS.name)
    originals = [
        (b"K1", serde.encode(event("k1-a", "K1").to_avro())),
        (b"K2", serde.encode(event("k2-a", "K2").to_avro())),
        (b"K1", serde.encode(event("k1-b", "K1", 5).to_avro())),
    ]
    valid_json = {
        "event_id": "h-1",
        "shipment_id": "H1",
        "event_type": "CREATED",
        "occurred_at": "2026-11-25T10:00:00Z",
        "source": "carrier:acme",
    }
    producer = make_producer(settings)
    letters = [
        DeadLetter(k, v, "processing", "internal_error", "RuntimeError", "boom", source, 1, i)
        for i, (k, v) in enumerate(originals)
    ]
    letters += [
        DeadLetter(
            None,
            json.dumps(valid_json).encode(),
            "ingestion",
            "invalid_enum",
            "ValidationError",
            "was wrong before a fix",
            "http:/ingest",
            source_offset=0,
        ),
        DeadLetter(
            None,
            b'{"event_id": 7}',
            "ingestion",
            "wrong_type",
            "ValidationError",
            "still wrong",
            "http:/ingest",
            source_offset=1,
        ),
    ]
    for dl in letters:
        producer.produce(settings.topic(DLQ.name), key=dl.key, value=dl.value, headers=dl.headers())
        producer.flush(30)  # one at a time: DLQ timestamps in this order
        time.sleep(0.01)
    return originals, valid_json


def test_dlq_list_show_and_redrive_once(settings: Settings, cli: Cli) -> None:
    admin.ensure_topics(settings)
    registry.register(settings, EVENTS)
    originals, valid_json = _dead_letters(settings)
    events_topic = settings.topic(EVENTS.name)

    code, out, err = cli("dlq", "list")
    assert code == 0 and "5 of 5 dead letters shown" in err
    rows = out.splitlines()
    assert rows[0].split()[:4] == ["POSITION", "KEY", "STAGE", "REASON"]
    assert sum("internal_error" in r for r in rows) == 3 and "http:/ingest#1" in out
    code, out, _ = cli("dlq", "list", "--stage", "ingestion", "--json")
    listed = json_lines(out)
    assert [x["reason"] for x in listed] == ["invalid_enum", "wrong_type"]

    first = json_lines(cli("dlq", "list", "--reason", "internal_error", "--json")[1])[0]
    code, out, _ = cli("dlq", "show", first["position"])
    assert code == 0 and "error.reason: internal_error" in out
    assert "binary" in out and '"event_id": "k1-a"' in out
    assert cli("dlq", "show", "0:999")[0] == 1

    code, out, err = cli("dlq", "redrive", "--dry-run")
    assert code == 0
    assert out.startswith("would redrive 4 (3 as they were, 1 revalidated;")
    assert "still invalid 1" in out and "wrong_type" in err
    assert list(reader.read_all(settings, events_topic)) == []

    code, out, _ = cli("dlq", "redrive")
    assert code == 0 and out.startswith("redriven 4 (3 as they were, 1 revalidated;")
    landed = visible(settings, events_topic, 4)
    assert len(landed) == 4
    assert all((r.header("redriven.from") or "").startswith("dlq:") for r in landed)
    copied = sorted((r.key, r.value) for r in landed if r.key != b"H1")
    assert copied == sorted(originals)  # bytes unchanged
    k1 = [r for r in sorted(landed, key=lambda r: r.offset) if r.key == b"K1"]
    assert [serde_id(settings, r.value) for r in k1] == ["k1-a", "k1-b"]  # DLQ order per key
    (revalidated,) = [r for r in landed if r.key == b"H1"]
    assert serde_id(settings, revalidated.value) == valid_json["event_id"]

    code, out, _ = cli("dlq", "redrive")
    assert code == 0 and out.startswith("redriven 0") and "already redriven 4" in out
    # A record wrongly written again would be a fifth: give its markers time to land.
    assert len(visible(settings, events_topic, 5, within_s=3.0)) == 4
    code, out, _ = cli("dlq", "list", "--json")
    assert [x["redriven"] for x in json_lines(out)].count(True) == 4


def visible(settings: Settings, topic: str, count: int, within_s: float = 15.0) -> list[Any]:
    """The topic's committed records once ``count`` are visible (or what is there at the end).

    A transaction's commit returns before the broker has written its markers into the data
    partitions; until then a read_committed reader stops short of its records.
    """
    deadline = time.monotonic() + within_s
    while True:
        records = list(reader.read_all(settings, topic))
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def serde_id(settings: Settings, value: bytes | None) -> str:
    return str(AvroSerde(settings, EVENTS).decode(value)["event_id"])


def test_get_asks_a_processing_worker(
    settings: Settings, cli: Cli, worker_factory: Callable[[Settings], Any]
) -> None:
    s = settings.with_(role="processing", standby_replicas=0)
    provision(s)
    pub = EventPublisher(s)
    pub.publish(event("g-1", "GET-1"))
    pub.flush()
    worker_factory(s)
    deadline = time.monotonic() + 90
    while True:
        code, out, err = cli("get", "GET-1", s=s)
        if code == 0:
            break
        assert time.monotonic() < deadline, (code, err)
        time.sleep(1)
    assert "g-1" in out and "GET-1" in json.dumps(json.loads(out))
    code, _, err = cli("get", "NO-SUCH-SHIPMENT", s=s)
    assert code == 1 and err.strip() == "no shipment NO-SUCH-SHIPMENT"
