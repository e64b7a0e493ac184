"""A cold instance's tables, restored from their changelogs, hold what the writing instance held.

One processing worker handles a few thousand events (state for every shipment, hub windows for
every arrival, repeated writes of the same keys) and is stopped; a second one with an empty data
dir takes over every partition and restores them. Its RocksDB stores must then equal the first
worker's, key for key and byte for byte: the first worker wrote its stores in the processing
path, the second got them only through recovery (``streams/patches/changelog_batch.py``), so the
expected contents do not come from the code under test. Changelog records are written several
times per key and the stores are compared after the last write, so the restore has to keep the
latest value of each key across fetches and buffer flushes.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import rocksdict
from confluent_kafka import TopicPartition

from streams.kafka import reader
from streams.kafka.events import EventPublisher
from streams.kafka.reference import publish_hubs
from streams.settings import Settings
from streams.topics import EVENTS
from tests.integration.conftest import Worker, provision

pytestmark = pytest.mark.integration

H = 3_600_000
T0 = 1_732_838_400_000
HUBS = [
    {"code": f"HUB{c}", "region": "NE", "capacity_per_window": 50, "alternate": None,
     "transit_hours": {"NE": 10, "SE": 30}}
    for c in "ABC"
]  # fmt: skip
SHIPMENTS = 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def events() -> list[dict[str, object]]:
    """Per shipment: created, picked up, through two hubs, out for delivery, delivered; one
    event of every fifth shipment sent twice (a duplicate)."""
    out: list[dict[str, object]] = []
    for i in range(SHIPMENTS):
        sid = f"RST-{i:04d}"
        at = T0 + (i % 24) * H
        steps: list[tuple[str, dict[str, object]]] = [
            ("CREATED", {"service_level": "STANDARD", "promised_at": at + 72 * H,
                         "destination": "NE", "origin": "SE"}),
            ("PICKED_UP", {}),
            ("ARRIVED_HUB", {"hub": f"HUB{'ABC'[i % 3]}"}),
            ("DEPARTED_HUB", {"hub": f"HUB{'ABC'[i % 3]}"}),
            ("ARRIVED_HUB", {"hub": f"HUB{'ABC'[(i + 1) % 3]}"}),
            ("OUT_FOR_DELIVERY", {}),
            ("DELIVERED", {}),
        ]  # fmt: skip
        for n, (etype, fields) in enumerate(steps):
            out.append(
                {"event_id": f"{sid}-{n}", "shipment_id": sid, "event_type": etype,
                 "occurred_at": at + n * H, "source": "test", **fields}
            )  # fmt: skip
        if i % 5 == 0:
            out.append(dict(out[-3]))
    return out


def processed_everything(settings: Settings) -> bool:
    """The processing group has committed every offset of the events topic."""
    topic = settings.topic(EVENTS.name)
    ends = reader.end_offsets(settings, topic)
    c = reader.consumer(settings, **{"group.id": settings.group_id})
    try:
        committed = c.committed([TopicPartition(topic, p) for p in ends], timeout=10)
    finally:
        c.close()
    return all(tp.offset == ends[tp.partition][1] for tp in committed)


def stores(data_dir: Path) -> dict[str, dict[bytes, bytes]]:
    """Every table's key/value pairs in a stopped worker's RocksDB stores, partitions merged,
    without faust's own bookkeeping (the persisted changelog offset)."""
    out: dict[str, dict[bytes, bytes]] = {}
    for path in sorted(data_dir.rglob("*.db")):
        table = path.name.rsplit("-", 1)[0]
        db = rocksdict.Rdict(
            str(path),
            options=rocksdict.Options(raw_mode=True),
            access_type=rocksdict.AccessType.read_only(),
        )
        try:
            pairs = {k: v for k, v in db.items() if not k.startswith(b"__faust")}
        finally:
            db.close()
        out.setdefault(table, {}).update(pairs)
    return out


@pytest.mark.timeout(600)
def test_a_cold_instance_restores_the_tables_the_writer_left(
    settings: Settings, tmp_path: Path, worker_factory: Callable[[Settings], Worker]
) -> None:
    base = settings.with_(role="processing", standby_replicas=0)
    provision(base)
    publish_hubs(base, hubs=HUBS)

    writer_settings = base.with_(data_dir=tmp_path / "writer")
    writer = worker_factory(writer_settings)  # stopped at teardown whatever happens
    pub = EventPublisher(base)
    for e in events():
        pub.publish(e)
    pub.flush()
    deadline = time.monotonic() + 180
    while not processed_everything(base):
        assert time.monotonic() < deadline, f"events not processed:\n{writer.tail()}"
        time.sleep(1)
    writer.stop()
    written = stores(writer_settings.data_dir)
    assert len(written.get("shipments", {})) == SHIPMENTS, sorted(written)
    assert written.get("hub_windows"), "no hub windows written"

    cold_settings = base.with_(data_dir=tmp_path / "cold", web_port=_free_port())
    cold = worker_factory(cold_settings)
    cold.stop()
    assert "Restoring state from changelog topics" in cold.log_path.read_text()
    restored = stores(cold_settings.data_dir)
    assert set(restored) == set(written)
    for table, pairs in written.items():
        missing = pairs.keys() - restored[table].keys()
        extra = restored[table].keys() - pairs.keys()
        changed = [
            k for k in pairs.keys() & restored[table].keys() if pairs[k] != restored[table][k]
        ]
        assert not (missing or extra or changed), (
            f"{table}: {len(missing)} missing, {len(extra)} extra, {len(changed)} changed "
            f"of {len(pairs)}; e.g. {sorted(missing | extra | set(changed))[:3]}"
        )
