"""End to end on the real stack: a scenario whose decisions are known in advance, bad input of
every kind, the routed state endpoint and the reconciliation.

One worker (role ``all``) and one reference endpoint serve the whole module; shipments and
event ids are distinct per test, so the tests do not see each other's decisions.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from streams.codecs.avro import AvroSerde
from streams.kafka import admin, reader
from streams.kafka.events import EventPublisher
from streams.kafka.partitioner import partition_for
from streams.kafka.reference import publish_hubs
from streams.settings import Settings
from streams.tools import reconciliation
from streams.topics import ACTIONS, DECISIONS, DLQ, EVENTS
from tests.integration.conftest import ROOT, Worker, env_of, provision

pytestmark = pytest.mark.integration

H = 3_600_000
T0 = 1_732_838_400_000  # 2024-11-29T00:00:00Z, a window boundary
HUBS = [
    {
        "code": "HUBA",
        "region": "NE",
        "capacity_per_window": 2,
        "alternate": "HUBB",
        "transit_hours": {"NE": 10, "SE": 40},
    },
    {
        "code": "HUBB",
        "region": "NE",
        "capacity_per_window": 100,
        "alternate": None,
        "transit_hours": {"NE": 5, "SE": 30},
    },
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def stack(
    base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Worker, str]]:
    tmp = tmp_path_factory.mktemp("pipeline")
    tag = f"e2e{int(time.time() * 1000) % 10**8}"
    ep_port = _free_port()
    settings = base_settings.with_(
        topic_prefix=f"{tag}.",
        app_id=tag,
        partitions=4,
        data_dir=tmp / "data",
        web_port=_free_port(),
        endpoint_url=f"http://127.0.0.1:{ep_port}",
        max_body_bytes=64 * 1024,
        standby_replicas=0,
    )
    provision(settings)
    publish_hubs(settings, hubs=HUBS)
    endpoint = subprocess.Popen(
        [sys.executable, "-m", "ops.endpoint.server", "--port", str(ep_port)],
        cwd=ROOT,
        stdout=(tmp / "endpoint.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    worker = Worker(settings, tmp / "worker.log").start()
    yield settings, worker, settings.endpoint_url
    worker.stop()
    endpoint.terminate()
    endpoint.wait(10)
    names = [t for t in admin.admin(settings).list_topics(timeout=10).topics if t.startswith(tag)]
    admin.delete_topics(settings, names)


def ev(sid: str, n: int, etype: str, at: int, **fields: object) -> dict[str, object]:
    return {
        "event_id": f"{sid}-{n}",
        "shipment_id": sid,
        "event_type": etype,
        "occurred_at": at,
        "source": "test",
        **fields,
    }


def created(sid: str, at: int, level: str, promised: int, dest: str = "NE") -> dict[str, object]:
    return ev(
        sid,
        0,
        "CREATED",
        at,
        service_level=level,
        promised_at=promised,
        destination=dest,
        origin="SE",
    )


def publish(settings: Settings, events: list[dict[str, object]]) -> None:
    pub = EventPublisher(settings)
    for e in events:
        pub.publish(e)
    pub.flush()


def decisions_of(settings: Settings, prefix: str) -> list[dict[str, object]]:
    serde = AvroSerde(settings, DECISIONS)
    out = [serde.decode(r.value) for r in reader.read_all(settings, settings.topic(DECISIONS.name))]
    return [d for d in out if str(d["shipment_id"]).startswith(prefix)]


def wait_for(fn, expected_len: int, timeout: float = 90.0, settle: float = 3.0):  # type: ignore[no-untyped-def]
    """Poll until fn() has expected_len items and stays so for `settle` seconds."""
    deadline = time.monotonic() + timeout
    result = fn()
    while time.monotonic() < deadline:
        result = fn()
        if len(result) >= expected_len:
            time.sleep(settle)
            return fn()
        time.sleep(1)
    return result


def same_partition_key(base: str, target: str, partitions: int) -> str:
    p = partition_for(target, partitions)
    return next(f"{base}{i}" for i in range(10_000) if partition_for(f"{base}{i}", partitions) == p)


def test_scenario_gives_exactly_the_decisions_the_rules_require(stack) -> None:  # type: ignore[no-untyped-def]
    settings, worker, endpoint = stack
    p = "SC-"
    stalled = f"{p}STALL"
    clock = same_partition_key(f"{p}CLOCK", stalled, settings.partitions)
    events = [
        # R3: EXPRESS promised at T0+12h; arrival at HUBA (10 h to NE) at T0+3h -> ETA T0+13h
        created(f"{p}EXP", T0, "EXPRESS", T0 + 12 * H),
        ev(f"{p}EXP", 1, "ARRIVED_HUB", T0 + 3 * H, hub="HUBA"),
        # R4: STANDARD promised T0+8h; ETA T0+2h+10h = T0+12h >= promised + 4h -> notify
        created(f"{p}STD", T0, "STANDARD", T0 + 8 * H),
        ev(f"{p}STD", 1, "DEPARTED_HUB", T0 + 2 * H, hub="HUBA"),
        # ETA +30 min -> no new notification; then +2 h more -> notify again
        ev(f"{p}STD", 2, "DEPARTED_HUB", T0 + 2 * H + 30 * 60_000, hub="HUBA"),
        ev(f"{p}STD", 3, "DEPARTED_HUB", T0 + 4 * H + 30 * 60_000, hub="HUBA"),
        # R1 once per code; R2 once
        created(f"{p}DMG", T0, "STANDARD", T0 + 100 * H),
        ev(f"{p}DMG", 1, "EXCEPTION", T0 + H, exception_code="DAMAGED"),
        ev(f"{p}DMG", 2, "EXCEPTION", T0 + 2 * H, exception_code="DAMAGED"),
        ev(f"{p}DMG", 3, "EXCEPTION", T0 + 3 * H, exception_code="LOST"),
        ev(f"{p}DMG", 4, "EXCEPTION", T0 + 4 * H, exception_code="ADDRESS_ISSUE"),
        ev(f"{p}DMG", 5, "EXCEPTION", T0 + 5 * H, exception_code="ADDRESS_ISSUE"),
        # R6 closes; nothing after
        created(f"{p}DONE", T0, "STANDARD", T0 + 100 * H),
        ev(f"{p}DONE", 1, "DELIVERED", T0 + H),
        ev(f"{p}DONE", 2, "EXCEPTION", T0 + 2 * H, exception_code="LOST"),
        # a duplicate (webhook retry) and an out-of-order event change nothing
        ev(f"{p}DONE", 1, "DELIVERED", T0 + H),
        # late CREATED: the scan arrives first, the EXPRESS promise later -> R3 on CREATED
        ev(f"{p}LATE", 1, "ARRIVED_HUB", T0 + 5 * H, hub="HUBB"),
        created(f"{p}LATE", T0, "EXPRESS", T0 + 6 * H),
        # R5: three arrivals in one window at HUBA (capacity 2, alternate HUBB)
        *[
            ev(f"{p}R5-{i}", 1, "ARRIVED_HUB", T0 + 20 * H + i * 60_000, hub="HUBA")
            for i in range(3)
        ],
        # R7: silence of 48 h of stream time on the stalled shipment's partition
        created(stalled, T0, "STANDARD", T0 + 200 * H),
        ev(clock, 0, "PICKED_UP", T0 + 49 * H),
    ]
    publish(settings, events)
    expected = {
        (f"{p}EXP", "R3", "EXPEDITE"),
        (f"{p}STD", "R4", "NOTIFY_CUSTOMER"),
        (f"{p}STD", "R4", "NOTIFY_CUSTOMER"),
        (f"{p}DMG", "R1", "ESCALATE"),
        (f"{p}DMG", "R1", "ESCALATE"),
        (f"{p}DMG", "R2", "HOLD"),
        (f"{p}DONE", "R6", "CLOSE"),
        (f"{p}LATE", "R3", "EXPEDITE"),
        (stalled, "R7", "ESCALATE"),
    }
    got = wait_for(lambda: decisions_of(settings, p), 10, timeout=120)
    triples = [(d["shipment_id"], d["rule"], d["action"]) for d in got]
    # Which of the three arrivals is the third at the hub depends on the order in which the
    # three shipments' partitions reach the hub agent: exactly one of them is rerouted.
    rerouted = [t for t in triples if t[1] == "R5"]
    assert len(rerouted) == 1 and rerouted[0][0].startswith(f"{p}R5-"), triples
    assert sorted(t for t in triples if t[1] != "R5") == sorted(
        [*expected, (f"{p}STD", "R4", "NOTIFY_CUSTOMER"), (f"{p}DMG", "R1", "ESCALATE")]
    ), triples
    assert len({d["decision_id"] for d in got}) == len(got), "a decision was committed twice"
    reroute = next(d for d in got if d["rule"] == "R5")
    assert reroute["target_hub"] == "HUBB"
    assert next(d for d in got if d["rule"] == "R7")["reason"] == "stalled"
    # every decision delivered once to the endpoint
    actions_serde = AvroSerde(settings, ACTIONS)

    def actions() -> list[dict[str, object]]:
        records = reader.read_all(settings, settings.topic(ACTIONS.name))
        decoded = (actions_serde.decode(r.value) for r in records)
        return [a for a in decoded if str(a["shipment_id"]).startswith(p)]

    delivered = wait_for(actions, len(got))
    assert {a["decision_id"] for a in delivered} == {d["decision_id"] for d in got}
    assert all(a["status"] == "DELIVERED" for a in delivered)
    received = httpx.get(f"{endpoint}/received").json()
    assert received["keys_applied_twice"] == []
    state = httpx.get(f"{worker.url}/shipments/{p}DONE").json()
    assert state["closed"] is True and state["event_count"] == 3


def test_bad_input_is_dead_lettered_and_the_worker_keeps_going(stack) -> None:  # type: ignore[no-untyped-def]
    settings, worker, _ = stack
    pub = EventPublisher(settings)
    pub.publish_raw(b"BAD-1", b"this is not avro at all")
    pub.publish_raw(b"BAD-2", struct.pack(">bI", 0, 987_654_321) + b"\x02x")
    serde = AvroSerde(settings, EVENTS)
    no_hub = ev("BAD-3", 1, "ARRIVED_HUB", T0)  # valid Avro, invalid event: no hub
    pub.publish_raw(b"BAD-3", serde.encode(no_hub))
    pub.publish_raw(b"SOMEONE-ELSE", serde.encode(ev("BAD-4", 1, "CREATED", T0)))
    pub.flush()
    r = httpx.post(
        f"{worker.url}/ingest",
        content=b'[{"event_id": oops',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"] == "malformed_json"
    r = httpx.post(f"{worker.url}/ingest", content=b'{"event_id": oops')  # one NDJSON line
    assert r.status_code == 422 and r.json()["results"][0]["reason"] == "malformed_json"
    r = httpx.post(f"{worker.url}/ingest", content=b"[" + b" " * (70 * 1024) + b"]")
    assert r.status_code == 413
    r = httpx.post(
        f"{worker.url}/ingest",
        content=b'{"event_id":"BAD-5-1","shipment_id":"BAD-5"}\nnot json\n',
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 422 and [x["reason"] for x in r.json()["results"]] == [
        "missing_field",
        "malformed_json",
    ]
    # a valid event after all of that is still applied
    r = httpx.post(f"{worker.url}/ingest", json=[created("GOOD-1", T0, "STANDARD", T0 + 99 * H)])
    assert r.status_code == 202 and r.json()["accepted"] == 1

    def dead() -> list[tuple[str, str]]:
        return [
            (rec.header("error.stage") or "", rec.header("error.reason") or "")
            for rec in reader.read_all(settings, settings.topic(DLQ.name))
        ]

    got = wait_for(dead, 8)
    for expected in [
        ("processing", "not_avro"),
        ("processing", "unknown_schema_id"),
        ("processing", "hub_required"),
        ("processing", "key_mismatch"),
        ("ingestion", "malformed_json"),
        ("ingestion", "body_too_large"),
        ("ingestion", "missing_field"),
    ]:
        assert expected in got, (expected, got)
    letters = [
        rec
        for rec in reader.read_all(settings, settings.topic(DLQ.name))
        if rec.header("error.reason") == "not_avro"
    ]
    assert letters[0].value == b"this is not avro at all" and letters[0].key == b"BAD-1"
    assert letters[0].header("source.topic") == settings.topic(EVENTS.name)
    assert int(letters[0].header("source.offset") or -1) >= 0
    deadline = time.monotonic() + 60
    while httpx.get(f"{worker.url}/shipments/GOOD-1").status_code != 200:
        assert time.monotonic() < deadline, "the valid event after the bad ones was not applied"
        time.sleep(1)
    assert httpx.get(f"{worker.url}/healthz").status_code == 200


def test_every_input_record_is_accounted_for(stack) -> None:  # type: ignore[no-untyped-def]
    settings, worker, _ = stack
    publish(settings, [created("REC-1", T0, "STANDARD", T0 + 9 * H)])
    deadline = time.monotonic() + 60
    while httpx.get(f"{worker.url}/shipments/REC-1").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(1)
    result = reconciliation.compute(settings)
    assert result.ok, result.summary()
    assert result.inputs >= 1 and result.lost == 0
    assert httpx.get(f"{worker.url}/shipments/NOPE").status_code == 404


def test_metrics_are_exported(stack) -> None:  # type: ignore[no-untyped-def]
    _, worker, _ = stack
    text = httpx.get(f"{worker.url}/metrics").text
    for name, kind in (
        ("shipstream_events_total", "counter"),
        ("shipstream_decisions_total", "counter"),
        ("shipstream_decision_latency_seconds", "histogram"),
        ("shipstream_dlq_total", "counter"),
        ("shipstream_consumer_lag", "gauge"),
    ):
        assert f"# TYPE {name} {kind}" in text, name
    assert 'shipstream_events_total{outcome="applied",stage="processing"}' in text
    assert json.loads(httpx.get(f"{worker.url}/healthz").text)["recovered"] is True


def test_ingest_file_replays_valid_lines_and_dead_letters_the_rest(stack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings, worker, _ = stack
    lines = [
        json.dumps(created("FILE-1", T0, "STANDARD", T0 + 9 * H)),
        '{"event_id": "FILE-1-1", "shipment_id": "FILE-1"',
        json.dumps(ev("FILE-1", 2, "ARRIVED_HUB", T0 + H, hub="HUBB")),
        json.dumps(ev("FILE-1", 3, "PICKED_UP", "yesterday")),
    ]
    path = tmp_path / "replay.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "streams.tools.cli.main", "ingest", str(path)],
        cwd=ROOT,
        env=env_of(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "2 published, 2 rejected" in out.stdout
    deadline = time.monotonic() + 60
    while True:
        r = httpx.get(f"{worker.url}/shipments/FILE-1")
        if r.status_code == 200 and r.json()["event_count"] == 2:
            break
        assert time.monotonic() < deadline, r.text
        time.sleep(1)
    assert r.json()["eta"] == T0 + H + 5 * H  # HUBB: 5 h to NE
    sources = [
        rec.header("source.topic") for rec in reader.read_all(settings, settings.topic(DLQ.name))
    ]
    assert sources.count("file:replay.jsonl") == 2


def test_any_worker_answers_for_any_shipment(stack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Last in the module: a second worker joins and the partitions split between the two."""
    settings, worker, _ = stack
    ids = [f"ROUTE-{i}" for i in range(16)]
    publish(settings, [created(sid, T0, "STANDARD", T0 + 9 * H) for sid in ids])
    second = Worker(settings.with_(web_port=_free_port()), tmp_path / "second.log").start()
    try:
        deadline = time.monotonic() + 90
        while True:
            mine = {
                json.loads(httpx.get(f"{w.url}/healthz").text)["assigned"].__len__()
                for w in (worker, second)
            }
            answers = [
                httpx.get(f"{w.url}/shipments/{sid}", timeout=10).status_code
                for w in (worker, second)
                for sid in ids
            ]
            if all(code == 200 for code in answers) and 0 not in mine:
                break
            assert time.monotonic() < deadline, (answers, mine)
            time.sleep(2)
    finally:
        second.stop()
