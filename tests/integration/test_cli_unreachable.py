"""Every operations command says, in one line, which service it cannot reach and what to run.

Real processes (``python -m streams.tools.cli.main``) against a closed port, as a user would see it:
exit code 2, one line on stderr naming the address and ``make up``, no traceback.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from streams.codecs import registry
from streams.dead_letter import DeadLetter
from streams.kafka import admin
from streams.kafka.events import EventPublisher
from streams.kafka.producer import make_producer
from streams.model import EventType, ShipmentEvent
from streams.settings import Settings
from streams.topics import DLQ, EVENTS
from tests.integration.conftest import ROOT, env_of

pytestmark = pytest.mark.integration


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(settings: Settings, *argv: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "streams.tools.cli.main", *argv],
        cwd=ROOT,
        env=env_of(settings, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_one_line_error(proc: subprocess.Popen[str], address: str) -> None:
    _, err = proc.communicate(timeout=60)
    lines = err.strip().splitlines()
    assert proc.returncode == 2, (proc.args, err)
    assert len(lines) == 1, (proc.args, err)
    assert lines[0].startswith("shipstream: error: ") and address in lines[0]
    assert "`make up`" in lines[0]


def test_a_closed_broker_port_is_one_clear_line(settings: Settings) -> None:
    broker = f"127.0.0.1:{closed_port()}"
    commands = [
        ["topics"],
        ["topics", "--all"],
        ["lag"],
        ["tail", "events"],
        ["dlq", "list"],
        ["dlq", "show", "0:0"],
        ["dlq", "redrive"],
    ]
    # in parallel: each waits a few seconds for the broker that is not there
    procs = [start(settings, *argv, SHIPSTREAM_BROKER=broker) for argv in commands]
    for proc in procs:
        assert_one_line_error(proc, broker)


def test_a_closed_registry_port_is_one_clear_line(settings: Settings) -> None:
    admin.ensure_topics(settings)
    registry.register(settings, EVENTS)
    pub = EventPublisher(settings)
    pub.publish(
        ShipmentEvent(
            event_id="e",
            shipment_id="S",
            event_type=EventType.CREATED,
            occurred_at=1_795_600_000_000,
            source="warehouse",
        )
    )
    pub.flush()
    # a dead letter from HTTP ingestion: redriving it needs the registry to encode it
    valid = {
        "event_id": "h",
        "shipment_id": "H",
        "event_type": "CREATED",
        "occurred_at": 1_795_600_000_000,
        "source": "carrier:acme",
    }
    letter = DeadLetter(
        None, json.dumps(valid).encode(), "ingestion", "x", "E", "m", "http:/ingest"
    )
    producer = make_producer(settings)
    producer.produce(
        settings.topic(DLQ.name), key=None, value=letter.value, headers=letter.headers()
    )
    assert producer.flush(30) == 0

    url = f"http://127.0.0.1:{closed_port()}/apis/ccompat/v7"
    procs = [
        start(settings, "tail", "events", SHIPSTREAM_REGISTRY_URL=url),
        start(settings, "dlq", "redrive", SHIPSTREAM_REGISTRY_URL=url),
    ]
    for proc in procs:
        assert_one_line_error(proc, url)
    # the failed redrive committed nothing: a redrive with the registry back does it all
    ok = start(settings, "dlq", "redrive")
    out, err = ok.communicate(timeout=60)
    assert ok.returncode == 0 and out.startswith("redriven 1 (0 as they were, 1 revalidated"), err


def test_a_closed_worker_port_is_one_clear_line(settings: Settings) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    assert_one_line_error(start(settings, "get", "S1", "--url", url), url)
    default = settings.with_(web_port=closed_port())
    proc = start(default, "get", "S1")
    assert_one_line_error(proc, f"http://{default.web_host}:{default.web_port}/shipments/S1")
