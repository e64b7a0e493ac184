"""Fuzzing the running pipeline: hypothesis bodies on ``POST /ingest``, garbage on the topic.

One worker (role ``all``) on topics of this module only, so every record can be accounted
for: each record of each body is either on ``shipments.events`` or in the DLQ with the reason
the response gave, the worker never answers 500 and never dies; raw bytes produced straight
onto ``shipments.events`` end applied or dead-lettered (``shipstream reconcile`` proves it).
Bounded (50 examples each, no deadline) to stay well under a minute.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.codecs.avro import AvroSerde
from streams.kafka import admin, reader
from streams.kafka.events import EventPublisher
from streams.kafka.reference import publish_hubs
from streams.pipeline import INGESTED_AT_HEADER
from streams.settings import Settings
from streams.tools import reconciliation
from streams.topics import DLQ, EVENTS
from tests.ingest_bodies import bodies
from tests.integration.conftest import Worker, provision

pytestmark = pytest.mark.integration

FUZZ = settings(
    max_examples=50,
    deadline=None,
    database=None,  # a replayed example would post again and spoil the accounting
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _port(start: int) -> int:
    """A free port from ``start`` up (the worker ports of this machine's other users are below)."""
    for port in range(start, start + 400):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free port in {start}..{start + 400}")


@pytest.fixture(scope="module")
def fuzz_stack(
    base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Worker]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    tag = f"fz{int(time.time() * 1000) % 10**8}"
    settings = base_settings.with_(
        topic_prefix=f"{tag}.",
        app_id=tag,
        partitions=2,
        data_dir=tmp / "data",
        web_port=_port(6600),
        # decisions of fuzzed events are delivered nowhere: nothing listens there
        endpoint_url=f"http://127.0.0.1:{_port(6900)}",
        delivery_attempts=1,
        max_body_bytes=64 * 1024,
        standby_replicas=0,
    )
    provision(settings)
    publish_hubs(settings)
    worker = Worker(settings, tmp / "worker.log").start()
    yield settings, worker
    worker.stop()
    names = [t for t in admin.admin(settings).list_topics(timeout=10).topics if t.startswith(tag)]
    admin.delete_topics(settings, names)


def settle(fn, done, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    """Poll fn() until done(result) or the timeout; returns the last result."""
    deadline = time.monotonic() + timeout
    result = fn()
    while not done(result) and time.monotonic() < deadline:
        time.sleep(1)
        result = fn()
    return result


def test_fuzzed_bodies_never_fail_and_every_record_is_accounted_for(fuzz_stack) -> None:  # type: ignore[no-untyped-def]
    settings_, worker = fuzz_stack
    expected_dlq: Counter[str] = Counter()
    accepted: Counter[str] = Counter()
    client = httpx.Client(timeout=30)

    @FUZZ
    @given(bodies())
    def post(body_and_type: tuple[bytes, str]) -> None:
        body, content_type = body_and_type
        r = client.post(
            f"{worker.url}/ingest", content=body, headers={"Content-Type": content_type}
        )
        assert r.status_code in (202, 400, 413, 422), (r.status_code, r.text[:1000])
        out = r.json()
        if r.status_code in (400, 413):
            expected_dlq[out["error"]] += 1
            return
        assert len(out["results"]) == out["accepted"] + out["rejected"]
        for res in out["results"]:
            if res["status"] == "accepted":
                accepted[res["event_id"]] += 1
            else:
                assert res["reason"] and res["error"], res
                expected_dlq[res["reason"]] += 1

    post()
    assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
    assert httpx.get(f"{worker.url}/healthz").status_code == 200
    assert "internal_error" not in expected_dlq, expected_dlq
    assert accepted and expected_dlq, "the fuzzing exercised only one path"

    def dead_letters() -> Counter[str]:
        return Counter(
            rec.header("error.reason") or ""
            for rec in reader.read_all(settings_, settings_.topic(DLQ.name))
            if rec.header("error.stage") == "ingestion"
        )

    serde = AvroSerde(settings_, EVENTS)

    def published() -> Counter[str]:
        return Counter(
            str(serde.decode(rec.value)["event_id"])
            for rec in reader.read_all(settings_, settings_.topic(EVENTS.name))
            if rec.header(INGESTED_AT_HEADER) is not None
        )

    total = sum(expected_dlq.values())
    assert settle(dead_letters, lambda got: sum(got.values()) >= total) == expected_dlq
    assert settle(published, lambda got: sum(got.values()) >= sum(accepted.values())) == accepted


GOOD = (
    b'{"event_id":"cls-%d","shipment_id":"cls","event_type":"CREATED",'
    b'"occurred_at":%d,"source":"t"}'
)
#: Deep enough for a RecursionError in json (limit 1000), small enough for the 64 KiB body limit.
DEEP = 20_000
NDJSON = "application/x-ndjson"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reasons"),
    [
        (b"[" * DEEP + b"]" * DEEP, "", 422, ["too_deep"]),
        (
            b'{"a":' * (DEEP // 4) + b"1" + b"}" * (DEEP // 4) + b"\n%(good)s",
            NDJSON,
            202,
            ["too_deep", None],
        ),
        (b'[{"occurred_at":' + b"9" * 5000 + b"}, %(good)s]", "", 202, ["number_too_large", None]),
        (b'{"\\ud800":1}\n%(good)s', NDJSON, 202, ["invalid_unicode", None]),
        (
            b'[{"event_id":"\\udc00","shipment_id":"s","event_type":"CREATED","occurred_at":1,'
            b'"source":"t"}]',
            "",
            422,
            ["invalid_unicode"],
        ),
        (b"\xef\xbb\xbf[%(good)s]", "application/json", 202, [None]),
        (
            b'[{"occurred_at": NaN}, 7, "x", %(good)s]',
            "",
            202,
            ["malformed_json", "not_an_object", "not_an_object", None],
        ),
        (
            b'{"event_id":"a","event_id":"b"}\n\xff\n',
            NDJSON,
            422,
            ["duplicate_field", "invalid_unicode"],
        ),
        (
            b'[{"event_id":"%(long)s","shipment_id":"s","event_type":"CREATED","occurred_at":1,'
            b'"source":"t"}]',
            "",
            422,
            ["too_long"],
        ),
        (
            b'[{"event_id":"f","shipment_id":"s","event_type":"CREATED",'
            b'"occurred_at":"2099-01-01T00:00:00Z","source":"t"}]',
            "",
            422,
            ["future_timestamp"],
        ),
        (b"[1, 2", "", 400, "malformed_json"),
        (b"   ", "", 400, "malformed_json"),
    ],
    ids=[
        "deep-array",
        "deep-ndjson",
        "huge-int",
        "surrogate-name",
        "surrogate-id",
        "bom-array",
        "nan-and-non-objects",
        "duplicate-key-and-latin1",
        "huge-id",
        "future",
        "unclosed",
        "empty",
    ],
)
def test_each_bad_input_class_has_its_status_and_reason(  # type: ignore[no-untyped-def]
    fuzz_stack, body: bytes, content_type: str, status: int, reasons: object
) -> None:
    _, worker = fuzz_stack
    n = time.time_ns()
    good = GOOD % (n, n // 1_000_000 - 1000)
    body = body.replace(b"%(good)s", good).replace(b"%(long)s", b"x" * 50_000)
    r = httpx.post(f"{worker.url}/ingest", content=body, headers={"Content-Type": content_type})
    assert r.status_code == status, r.text[:500]
    if status == 400:
        assert r.json()["error"] == reasons
    else:
        assert [res.get("reason") for res in r.json()["results"]] == reasons


def test_raw_bytes_on_the_events_topic_end_applied_or_dead_lettered(fuzz_stack) -> None:  # type: ignore[no-untyped-def]
    """Garbage straight onto the topic; the next test reconciles it with the rest."""
    settings_, _ = fuzz_stack
    pub = EventPublisher(settings_)

    @FUZZ
    @given(key=st.one_of(st.none(), st.binary(max_size=16)), value=st.binary(max_size=200))
    def produce(key: bytes | None, value: bytes) -> None:
        pub.publish_raw(key, value)

    produce()
    pub.flush()
    assert pub.counts["published_raw"] >= 1


def test_every_record_on_the_events_topic_is_accounted_for(fuzz_stack) -> None:  # type: ignore[no-untyped-def]
    """Runs after the two above: the fuzzed records, from HTTP and raw, all reconcile."""
    settings_, worker = fuzz_stack
    result = settle(lambda: reconciliation.compute(settings_), lambda r: r.ok, timeout=90)
    assert result.ok, result.summary()
    assert result.inputs >= 50 and result.dead_lettered >= 1
    assert worker.proc is not None and worker.proc.poll() is None, worker.tail()
    assert httpx.get(f"{worker.url}/healthz").status_code == 200
