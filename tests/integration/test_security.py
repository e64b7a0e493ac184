"""On the secure stack (`make up SECURE=1`; `make test` starts it): Kafka over SASL_SSL with
SCRAM-SHA-512, the registry behind TLS and basic auth.

What is refused: a plaintext client, a wrong password, a client that does not trust the stack's
CA, a registry request without or with wrong credentials. What works: the pipeline end to end,
a real worker over SASL_SSL reading and writing Avro through the authenticated registry.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streams.codecs import registry
from streams.codecs.avro import AvroSerde
from streams.errors import RegistryUnavailable, ServiceUnavailable
from streams.kafka import admin, clients, reader
from streams.kafka.reference import publish_hubs
from streams.settings import Settings, from_env
from streams.topics import ACTIONS, DECISIONS
from tests.integration.conftest import ROOT, Worker, _free_port

pytestmark = pytest.mark.integration

CLIENT_ENV = ROOT / ".local" / "secure" / "client.env"
T0 = 1_732_838_400_000
H = 3_600_000


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return env


@pytest.fixture(scope="module")
def secure() -> Settings:
    """The secure stack's client settings; fails (never skips) when it is not up."""
    if not CLIENT_ENV.exists():
        pytest.fail(f"no {CLIENT_ENV}: start the secure stack with `make up SECURE=1`")
    settings = from_env(read_env(CLIENT_ENV))
    try:
        clients.check_broker(settings, timeout=10)
        registry.client(settings).get_subjects()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"the secure stack is not up ({exc}); run `make up SECURE=1`")
    return settings


def test_settings_never_show_the_passwords(secure: Settings) -> None:
    assert secure.sasl_password is not None and secure.registry_password is not None
    for secret in (secure.sasl_password, secure.registry_password):
        assert secret.get_secret_value() not in repr(secure)


def test_a_plaintext_client_is_refused(secure: Settings) -> None:
    plain = Settings(broker=secure.broker)  # PLAINTEXT against the SASL_SSL listener
    with pytest.raises(ServiceUnavailable, match="closes PLAINTEXT connections"):
        clients.check_broker(plain, timeout=5)


def test_a_wrong_password_is_refused(secure: Settings) -> None:
    wrong = secure.with_(sasl_password="not-the-password")
    with pytest.raises(ServiceUnavailable, match="refused the login") as info:
        clients.check_broker(wrong, timeout=10)
    assert "invalid credentials" in str(info.value)
    assert "not-the-password" not in str(info.value)


def test_an_unknown_user_is_refused(secure: Settings) -> None:
    with pytest.raises(ServiceUnavailable, match="refused the login"):
        clients.check_broker(secure.with_(sasl_username="mallory"), timeout=10)


def test_a_client_that_does_not_trust_the_ca_is_refused(secure: Settings) -> None:
    # System CAs only: the broker's certificate (from the stack's own CA) must not pass.
    with pytest.raises(ServiceUnavailable, match="certificate verify failed"):
        clients.check_broker(secure.with_(ssl_ca_file=None), timeout=10)


def mtls(secure: Settings, with_cert: bool = True) -> Settings:
    """Settings for the stack's mTLS listener (the next port after the controller's)."""
    tls = Path(str(secure.ssl_ca_file)).parent
    host, port = secure.broker.rsplit(":", 1)
    return Settings(
        broker=f"{host}:{int(port) + 2}",
        security_protocol="SSL",
        ssl_ca_file=secure.ssl_ca_file,
        ssl_cert_file=tls / "client.pem" if with_cert else None,
        ssl_key_file=tls / "client.key" if with_cert else None,
    )


def test_a_client_certificate_is_a_login(secure: Settings) -> None:
    clients.check_broker(mtls(secure), timeout=10)  # librdkafka's cert and key
    with pytest.raises(ServiceUnavailable):
        clients.check_broker(mtls(secure, with_cert=False), timeout=10)


async def test_aiokafka_presents_the_client_certificate(secure: Settings) -> None:
    for settings in (mtls(secure), secure):  # mTLS, then SASL_SSL
        consumer = AIOKafkaConsumer(**clients.aiokafka_config(settings), group_id=None)
        await consumer.start()
        try:
            assert await consumer.topics()
        finally:
            await consumer.stop()


def test_the_registry_needs_credentials(secure: Settings) -> None:
    url = secure.registry_url + "/subjects"
    ca = ssl.create_default_context(cafile=str(secure.registry_ca_file))
    assert httpx.get(url, verify=ca, timeout=10).status_code == 401
    wrong = httpx.get(url, verify=ca, auth=("shipstream", "not-the-password"), timeout=10)
    assert wrong.status_code == 401
    right = httpx.get(url, timeout=10, **registry.httpx_options(secure))
    assert right.status_code == 200
    # the registry's plain http is not offered on the TLS port
    with pytest.raises(httpx.HTTPError):
        httpx.get(url.replace("https://", "http://"), timeout=10).raise_for_status()


def test_the_registry_client_reports_refused_credentials(secure: Settings) -> None:
    wrong = secure.with_(registry_password="not-the-password")
    with pytest.raises(SchemaRegistryError) as info:
        registry.client(wrong).get_subjects()
    assert info.value.http_status_code == 401
    # and shipstream's wrapper says it is about credentials, retried, never an unknown schema
    with pytest.raises(RegistryUnavailable, match="credentials"):
        registry.writer_schema(wrong, registry.client(wrong), 1)


@pytest.fixture(scope="module")
def pipeline(
    secure: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Worker]]:
    tmp = tmp_path_factory.mktemp("secure")
    tag = f"sec{uuid.uuid4().hex[:8]}"
    ep_port = _free_port()
    settings = secure.with_(
        topic_prefix=f"{tag}.",
        app_id=tag,
        partitions=2,
        data_dir=tmp / "data",
        web_port=_free_port(),
        endpoint_url=f"http://127.0.0.1:{ep_port}",
        standby_replicas=0,
    )
    admin.ensure_topics(settings)
    registry.register_all(settings)
    publish_hubs(
        settings,
        hubs=[
            {
                "code": "HUBA",
                "region": "NE",
                "capacity_per_window": 100,
                "alternate": None,
                "transit_hours": {"NE": 10},
            }
        ],
    )
    endpoint = subprocess.Popen(
        [sys.executable, "-m", "ops.endpoint.server", "--port", str(ep_port)],
        cwd=ROOT,
        stdout=(tmp / "endpoint.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    worker = Worker(settings, tmp / "worker.log").start(timeout=180)
    yield settings, worker
    worker.stop()
    endpoint.terminate()
    endpoint.wait(10)
    names = [t for t in admin.admin(settings).list_topics(timeout=10).topics if t.startswith(tag)]
    admin.delete_topics(settings, names)


def test_the_pipeline_runs_end_to_end_over_sasl_ssl(pipeline: tuple[Settings, Worker]) -> None:
    settings, worker = pipeline
    sid = f"SEC-{uuid.uuid4().hex[:6]}"
    body = [
        {
            "event_id": f"{sid}-0",
            "shipment_id": sid,
            "event_type": "CREATED",
            "occurred_at": T0,
            "source": "carrier:acme",
            "service_level": "EXPRESS",
            "promised_at": T0 + 12 * H,
            "destination": "NE",
        },
        # ETA T0+3h+10h > promised T0+12h: R3 EXPEDITE
        {
            "event_id": f"{sid}-1",
            "shipment_id": sid,
            "event_type": "ARRIVED_HUB",
            "occurred_at": T0 + 3 * H,
            "source": "carrier:acme",
            "hub": "HUBA",
        },
        # another shipment delivered: R6 CLOSE
        {
            "event_id": f"{sid}-D-0",
            "shipment_id": f"{sid}-D",
            "event_type": "DELIVERED",
            "occurred_at": T0 + 14 * H,
            "source": "carrier:acme",
        },
    ]
    r = httpx.post(worker.url + "/ingest", json=body, timeout=30)
    assert r.status_code == 202, r.text
    decisions = AvroSerde(settings, DECISIONS)
    actions = AvroSerde(settings, ACTIONS)
    deadline = time.monotonic() + 120
    got: list[tuple[object, object]] = []
    delivered: list[object] = []
    while time.monotonic() < deadline:
        got = [
            (d["rule"], d["action"])
            for d in (
                decisions.decode(rec.value)
                for rec in reader.read_all(settings, settings.topic(DECISIONS.name))
            )
            if str(d["shipment_id"]).startswith(sid)
        ]
        delivered = [
            a["status"]
            for a in (
                actions.decode(rec.value)
                for rec in reader.read_all(settings, settings.topic(ACTIONS.name))
            )
            if str(a["shipment_id"]).startswith(sid)
        ]
        if len(got) >= 2 and len(delivered) >= 2:
            break
        time.sleep(2)
    assert sorted(got) == [("R3", "EXPEDITE"), ("R6", "CLOSE")], worker.tail()
    assert delivered == ["DELIVERED", "DELIVERED"], worker.tail()
    # the shipment's state, answered by the worker that read it over SASL_SSL
    state = httpx.get(f"{worker.url}/shipments/{sid}", timeout=10)
    assert state.status_code == 200 and sid in state.text
    # the lag sampler's child process reads the group offsets over SASL_SSL too
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        metrics = httpx.get(worker.url + "/metrics", timeout=10).text
        if f'shipstream_consumer_lag{{group="{settings.app_id}-all"' in metrics:
            break
        time.sleep(2)
    else:
        pytest.fail(f"no consumer lag sampled over SASL_SSL:\n{worker.tail()}")
    # and the worker never wrote a password to its log
    log = worker.log_path.read_text(errors="replace")
    assert "Authenticated as shipstream via SCRAM-SHA-512" in log
    for secret in (settings.sasl_password, settings.registry_password):
        assert secret is not None and secret.get_secret_value() not in log
