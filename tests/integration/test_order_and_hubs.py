"""Order through the hub repartition, and the hub network changed while workers run (issue 9).

Both run per-role workers (processing and decision apart, as deployed) on the real stack, and
both publish the hub network only *after* the workers started, so the live path is the only
way the hubs can reach them. Expected decisions come from ``ops/chaos/oracle.py``, SPEC's
rules written apart from the agents' code.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ops.chaos.oracle import Oracle
from streams.codecs import registry
from streams.codecs.avro import AvroSerde
from streams.kafka import admin, reader
from streams.kafka.reference import publish_hubs, remove_hubs
from streams.model import Decision
from streams.settings import Settings
from streams.topics import DECISIONS
from tests.integration.conftest import Worker, _free_port, provision
from tests.integration.test_pipeline import ev, publish

pytestmark = pytest.mark.integration

H = 3_600_000
MIN = 60_000
T0 = 1_732_838_400_000  # 2024-11-29T00:00:00Z, a window boundary


def hub(code: str, capacity: int, alternate: str | None, hours: int) -> dict[str, Any]:
    return {
        "code": code,
        "region": "NE",
        "capacity_per_window": capacity,
        "alternate": alternate,
        "transit_hours": {"NE": hours},
    }


@pytest.fixture
def roles(settings: Settings, worker_factory: Any) -> Iterator[tuple[Settings, list[Worker]]]:
    """A processing worker and a decision worker on this test's topics, no hubs yet."""
    s = settings.with_(standby_replicas=0)
    provision(s)
    workers = [
        worker_factory(s.with_(role="processing", web_port=s.web_port)),
        worker_factory(s.with_(role="decision", web_port=_free_port())),
    ]
    yield s, workers


def decisions_of(settings: Settings) -> list[Decision]:
    serde = AvroSerde(settings, DECISIONS)
    records = reader.read_all(settings, settings.topic(DECISIONS.name))
    return [Decision.from_avro(serde.decode(r.value)) for r in records]


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def hubs_seen(workers: list[Worker]) -> list[dict[str, Any]]:
    return [httpx.get(w.url + "/hubs", timeout=5).json() for w in workers]


def publish_and_wait(settings: Settings, workers: list[Worker], hubs: list[dict[str, Any]]) -> None:
    started = time.monotonic()
    publish_hubs(settings, hubs=hubs)
    want = {h["code"]: h for h in hubs}

    def applied() -> bool:
        return all(
            all(seen.get(code) == h for code, h in want.items()) for seen in hubs_seen(workers)
        )

    wait_until(applied, 20, f"hubs {sorted(want)} on every worker")
    assert time.monotonic() - started < 10  # "within seconds"


def race(n: int) -> list[dict[str, Any]]:
    """Each shipment's ARRIVED_HUB followed at once by three more events, all preloaded."""
    events = []
    for i in range(n):
        sid, t = f"R{i:05d}", T0 + (i // 8) * MIN  # ~120 arrivals per 15-min window
        level = "EXPRESS" if i % 3 == 0 else "STANDARD"
        events += [
            ev(sid, 0, "CREATED", t, service_level=level, promised_at=t + 10 * H, destination="NE"),
            # ETA t+1h+20h: R4 (or R3), and R5 past the third arrival of the window
            ev(sid, 1, "ARRIVED_HUB", t + H, hub="TIGHT"),
            # ETA t+2h+20h: one hour later, R4 again; R3 already taken
            ev(sid, 2, "DEPARTED_HUB", t + 2 * H, hub="TIGHT"),
            ev(sid, 3, "OUT_FOR_DELIVERY", t + 3 * H),
            ev(sid, 4, "DELIVERED", t + 4 * H),
        ]
    return events


def test_decisions_follow_each_shipments_order_through_the_hub_detour(roles) -> None:  # type: ignore[no-untyped-def]
    settings, workers = roles
    hubs = [hub("TIGHT", 3, "WIDE", 20), hub("WIDE", 10_000, None, 5)]
    publish_and_wait(settings, workers, hubs)
    events = race(1500)
    publish(settings, events)
    oracle = Oracle({h["code"]: h for h in hubs})
    for e in events:
        oracle.add(e)
    want_own = Counter((e.shipment_id, e.rule, e.event_id, e.eta) for e in oracle.decisions)
    bounds = oracle.reroute_bounds()
    want_total = sum(want_own.values()) + sum(least for least, _ in bounds.values())
    wait_until(lambda: len(decisions_of(settings)) >= want_total, 240, f"{want_total} decisions")
    time.sleep(3)  # anything extra would show now
    got = decisions_of(settings)
    assert len({d.decision_id for d in got}) == len(got), "a decision id committed twice"
    have_own = Counter(
        (d.shipment_id, d.rule, d.based_on_event_id, d.eta) for d in got if d.rule != "R5"
    )
    missing, extra = want_own - have_own, have_own - want_own
    assert not missing and not extra, (list(missing)[:5], list(extra)[:5])
    reroutes: Counter[tuple[str, int]] = Counter()
    for d in got:
        if d.rule == "R5":
            at = d.event_occurred_at
            reroutes[(d.details["hub"], at - at % (15 * MIN))] += 1
    for key, (least, most) in bounds.items():
        assert least == most  # every arrival is certain here: one right number per window
        assert reroutes.get(key, 0) == least, key
    per_shipment: dict[str, list[str]] = defaultdict(list)
    for d in got:
        per_shipment[d.shipment_id].append(d.rule)
    # R6 only once everything before it: the close never overtakes the arrival's reroute.
    assert sum("R5" in rules for rules in per_shipment.values()) == sum(reroutes.values())
    for w in workers:
        assert "Stream has not started processing" not in w.log_path.read_text(errors="replace")


def metric(worker: Worker, name: str) -> float:
    for line in httpx.get(worker.url + "/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    pytest.fail(f"{name} not exported by {worker.url}")


def test_hub_changes_apply_live_on_every_worker(roles) -> None:  # type: ignore[no-untyped-def]
    settings, workers = roles
    # Workers are up with no hub at all; a hub added now must reach them.
    publish_and_wait(settings, workers, [hub("LIVE", 100, "ALT", 10)])
    t = T0
    publish(
        settings,
        [
            ev("A", 0, "CREATED", t, service_level="STANDARD", promised_at=t, destination="NE"),
            ev("A", 1, "ARRIVED_HUB", t + H, hub="LIVE"),  # ETA t+11h >= promise + 4h: R4
        ],
    )
    wait_until(lambda: len(decisions_of(settings)) >= 1, 60, "A's notice")
    # Capacity 1 and 30 transit hours from now on.
    publish_and_wait(settings, workers, [hub("LIVE", 1, "ALT", 30)])
    publish(
        settings,
        [
            ev("B", 0, "CREATED", t, service_level="STANDARD", promised_at=t, destination="NE"),
            # same window as A's arrival: arrival 2 > capacity 1 -> R5; ETA t+31h -> R4
            ev("B", 1, "ARRIVED_HUB", t + H + MIN, hub="LIVE"),
        ],
    )
    wait_until(lambda: len(decisions_of(settings)) >= 3, 60, "B's notice and reroute")
    remove_hubs(settings, ["LIVE"])
    wait_until(lambda: all("LIVE" not in seen for seen in hubs_seen(workers)), 20, "the removal")
    publish(
        settings,
        [
            ev("C", 0, "CREATED", t, service_level="STANDARD", promised_at=t, destination="NE"),
            ev("C", 1, "ARRIVED_HUB", t + H, hub="LIVE"),  # hub unknown: no ETA, no R4
            ev("C", 2, "DELIVERED", t + 2 * H),
        ],
    )
    wait_until(lambda: any(d.shipment_id == "C" for d in decisions_of(settings)), 60, "C")
    time.sleep(2)
    got = sorted((d.shipment_id, d.rule, d.eta, d.target_hub) for d in decisions_of(settings))
    assert got == [
        ("A", "R4", t + 11 * H, None),
        ("B", "R4", t + H + MIN + 30 * H, None),
        ("B", "R5", t + H + MIN + 30 * H, "ALT"),
        ("C", "R6", None, None),
    ]
    for w in workers:
        assert metric(w, "shipstream_reference_age_seconds") < 5
        assert "Stream has not started processing" not in w.log_path.read_text(errors="replace")


def test_a_detoured_arrival_posted_with_the_closing_event_is_decided_before_it(
    settings: Settings, worker_factory: Any
) -> None:
    """One body: CREATED (EXPRESS), ARRIVED_HUB (ETA past the promise), DELIVERED, on an `all`
    worker. The arrival comes back from the hub detour after DELIVERED; it is still evaluated
    first, so R3 fires before R6 closes the shipment (reported from the secure-stack test)."""
    s = settings.with_(standby_replicas=0)
    admin.ensure_topics(s)
    registry.register_all(s)
    publish_hubs(s, hubs=[hub("HUBA", 100, None, 10)])
    worker = worker_factory(s)
    sid = "DET-1"
    body = [
        ev(
            sid,
            0,
            "CREATED",
            T0,
            service_level="EXPRESS",
            promised_at=T0 + 12 * H,
            destination="NE",
        ),  # fmt: skip
        ev(sid, 1, "ARRIVED_HUB", T0 + 3 * H, hub="HUBA"),  # ETA T0+13h > T0+12h: R3
        ev(sid, 2, "DELIVERED", T0 + 14 * H),  # R6
    ]
    assert httpx.post(worker.url + "/ingest", json=body, timeout=30).status_code == 202
    oracle = Oracle({"HUBA": hub("HUBA", 100, None, 10)})
    for e in body:
        oracle.add(e)
    expected = sorted((d.rule, d.event_id) for d in oracle.decisions)
    assert expected == [("R3", f"{sid}-1"), ("R6", f"{sid}-2")]  # the oracle agrees with SPEC
    deadline = time.monotonic() + 120
    while len(decisions_of(s)) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)  # anything extra would show now
    got = sorted((d.rule, d.based_on_event_id) for d in decisions_of(s))
    assert got == expected, (got, worker.tail(30))
