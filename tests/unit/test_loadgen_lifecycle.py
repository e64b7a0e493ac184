"""The generated stream: deterministic, schema-valid, and disordered in the ways it claims."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from pathlib import Path

import fastavro
import pytest
from fastavro.validation import validate

from streams.reference.hubs import hubs_by_code, load_hubs
from streams.tools.loadgen.config import LifecycleConfig
from streams.tools.loadgen.items import Fate, Item, ItemKind
from streams.tools.loadgen.stream import generate_items

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "shipstream.ShipmentEvent.avsc"
HOUR = 3_600_000
TERMINAL = {"DELIVERED", "CANCELLED"}
# Rates raised so a short stream shows every kind of disorder many times.
NOISY = LifecycleConfig(
    seed=7, concurrency=200, p_duplicate=0.05, p_out_of_order=0.05, p_malformed=0.02
)


def take(config: LifecycleConfig, n: int) -> list[Item]:
    return list(itertools.islice(generate_items(config), n))


@pytest.fixture(scope="module")
def items() -> list[Item]:
    return take(NOISY, 30_000)


@pytest.fixture(scope="module")
def by_shipment(items) -> dict[str, list[dict]]:
    """Valid events per shipment, in event-time order."""
    out: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        if item.kind is ItemKind.VALID:
            out[item.key].append(item.event)
    for events in out.values():
        events.sort(key=lambda e: e["occurred_at"])
    return out


def test_same_seed_same_stream():
    assert take(NOISY, 3_000) == take(NOISY, 3_000)


def test_other_seed_other_stream_and_ids():
    a, b = take(NOISY, 500), take(LifecycleConfig(seed=8), 500)
    assert a != b
    ids_a = {i.event["event_id"] for i in a if i.kind is ItemKind.VALID}
    ids_b = {i.event["event_id"] for i in b if i.kind is ItemKind.VALID}
    assert not ids_a & ids_b


def test_every_valid_and_duplicate_event_matches_the_avro_schema(items):
    schema = fastavro.parse_schema(json.loads(SCHEMA.read_text()))
    for item in items:
        if item.kind in (ItemKind.VALID, ItemKind.DUPLICATE):
            assert validate(item.event, schema, raise_errors=True)
            assert item.key == item.event["shipment_id"]


def test_event_ids_unique_among_valid_events(items):
    ids = [i.event["event_id"] for i in items if i.kind is ItemKind.VALID]
    assert len(ids) == len(set(ids))


def test_duplicates_repeat_an_event_already_sent(items):
    sent: dict[str, dict] = {}
    duplicates = 0
    for item in items:
        if item.kind is ItemKind.VALID:
            sent[item.event["event_id"]] = item.event
        elif item.kind is ItemKind.DUPLICATE:
            duplicates += 1
            assert sent[item.event["event_id"]] == item.event
    assert duplicates > 100


def test_out_of_order_events_follow_a_later_event_of_their_shipment(items):
    latest: dict[str, int] = {}
    flagged = 0
    for item in items:
        if item.kind is not ItemKind.VALID:
            continue
        t = item.event["occurred_at"]
        if item.out_of_order:
            flagged += 1
            assert t < latest[item.key]
        else:
            assert t >= latest.get(item.key, 0)
        latest[item.key] = max(t, latest.get(item.key, 0))
    assert flagged > 100


def test_emission_interleaves_many_shipments(items):
    window = [i.key for i in items[10_000:10_200] if i.kind is ItemKind.VALID]
    assert len(set(window)) > 100
    same_as_previous = sum(a == b for a, b in itertools.pairwise(window))
    assert same_as_previous < 5


def test_lifecycles_are_well_formed(by_shipment):
    hubs = hubs_by_code(load_hubs())
    complete = [evs for evs in by_shipment.values() if evs[0]["event_type"] == "CREATED"]
    assert len(complete) > 1000
    for events in complete:
        created = events[0]
        assert created["origin"] and created["destination"]
        assert created["service_level"] in ("STANDARD", "EXPRESS")
        assert created["promised_at"] > created["occurred_at"]
        times = [e["occurred_at"] for e in events]
        assert times == sorted(set(times)), "event times strictly increase"
        assert all(e["event_type"] not in TERMINAL for e in events[:-1])
        for e in events:
            assert e["carrier"] and e["source"] in (
                "warehouse",
                "tracking",
                f"carrier:{e['carrier']}",
            )
            if e["event_type"] in ("ARRIVED_HUB", "DEPARTED_HUB"):
                assert e["hub"] in hubs
            if e["event_type"] == "EXCEPTION":
                assert e["exception_code"] is not None
        scans = [e for e in events if e["event_type"] in ("ARRIVED_HUB", "DEPARTED_HUB")]
        assert len({e["hub"] for e in scans}) <= 4


def test_time_between_scans_is_hours_not_seconds(by_shipment):
    gaps = [
        b["occurred_at"] - a["occurred_at"]
        for events in by_shipment.values()
        for a, b in itertools.pairwise(events)
    ]
    gaps.sort()
    assert gaps[len(gaps) // 2] > HOUR


def test_service_levels_roughly_80_20(items):
    levels = Counter(
        i.event["service_level"]
        for i in items
        if i.kind is ItemKind.VALID and i.event["event_type"] == "CREATED"
    )
    share = levels["EXPRESS"] / sum(levels.values())
    assert 0.15 < share < 0.25


def test_fates_and_exceptions_all_occur(items):
    fates = Counter(i.fate for i in items if i.kind is ItemKind.VALID)
    assert set(fates) == set(Fate)
    types = Counter(i.event["event_type"] for i in items if i.kind is ItemKind.VALID)
    assert types["CANCELLED"] and types["EXCEPTION"] and types["DELIVERED"]
    codes = {i.event["exception_code"] for i in items if i.kind is ItemKind.VALID}
    assert {"DELAY", "DAMAGED", "ADDRESS_ISSUE", "LOST", "WEATHER"} <= codes


def test_stalled_and_lost_shipments_never_end(by_shipment, items):
    fate = {i.key: i.fate for i in items if i.kind is ItemKind.VALID}
    for sid, events in by_shipment.items():
        if fate[sid] in (Fate.STALLED, Fate.LOST):
            assert not any(e["event_type"] in TERMINAL for e in events)
        if fate[sid] is Fate.LOST:
            assert events[-1]["exception_code"] == "LOST"


def _max_eta(events: list[dict], hubs: dict) -> int | None:
    dest = events[0]["destination"]
    etas = [
        e["occurred_at"] + hubs[e["hub"]]["transit_hours"][dest] * HOUR
        for e in events
        if e["event_type"] in ("ARRIVED_HUB", "DEPARTED_HUB")
    ]
    return max(etas, default=None)


def test_late_shipments_pass_the_r3_r4_thresholds_and_clean_ones_do_not(by_shipment, items):
    hubs = hubs_by_code(load_hubs())
    fate = {i.key: i.fate for i in items if i.kind is ItemKind.VALID}
    late = on_time = 0
    for sid, events in by_shipment.items():
        if events[0]["event_type"] != "CREATED" or events[-1]["event_type"] != "DELIVERED":
            continue
        created = events[0]
        eta = _max_eta(events, hubs)
        assert eta is not None
        threshold = created["promised_at"] + (
            0 if created["service_level"] == "EXPRESS" else 4 * HOUR
        )
        if fate[sid] is Fate.LATE:
            late += 1
            assert eta > threshold
        elif not any(e["event_type"] == "EXCEPTION" for e in events):
            on_time += 1
            assert eta <= created["promised_at"]
    assert late > 50 and on_time > 1000


def test_malformed_items_are_marked_and_really_malformed(items):
    schema = fastavro.parse_schema(json.loads(SCHEMA.read_text()))
    malformed = [i for i in items if i.kind in (ItemKind.MALFORMED_JSON, ItemKind.MALFORMED_BYTES)]
    assert len(malformed) > 100
    defects = Counter(i.defect for i in malformed)
    assert set(defects) == {
        "missing_field",
        "bad_enum",
        "bad_timestamp",
        "not_avro",
        "unknown_schema_id",
    }
    for item in malformed:
        if item.kind is ItemKind.MALFORMED_BYTES:
            assert isinstance(item.value, bytes)
            assert item.value[:1] != b"\x00" or item.defect == "unknown_schema_id"
        else:
            assert not validate(item.event, schema, raise_errors=False)
            assert "-bad-" in json.dumps(item.event)


def test_config_rejects_impossible_probabilities():
    with pytest.raises(ValueError, match="p_duplicate"):
        LifecycleConfig(p_duplicate=1.5)
    with pytest.raises(ValueError, match="must not exceed 1"):
        LifecycleConfig(p_cancel=0.5, p_stall=0.4, p_late=0.2)
