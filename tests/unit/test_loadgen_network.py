"""Routes head for the destination, and the R5 knob (concurrency vs capacity) works."""

from __future__ import annotations

import itertools
import random
from collections import Counter

from streams.reference.hubs import load_hubs
from streams.tools.loadgen.config import LifecycleConfig
from streams.tools.loadgen.items import ItemKind
from streams.tools.loadgen.network import Network
from streams.tools.loadgen.stream import generate_items


def test_routes_get_strictly_closer_to_the_destination():
    network = Network(load_hubs())
    rng = random.Random(3)
    lengths: Counter[int] = Counter()
    for _ in range(2_000):
        origin, destination = network.pick_regions(rng)
        route = network.route(rng, origin, destination, rng.randint(1, 4))
        lengths[len(route)] += 1
        assert network.region_of[route[0]] == origin
        assert len(route) == len(set(route))
        hours = [network.transit_hours(h, destination) for h in route]
        assert hours == sorted(hours, reverse=True) and len(set(hours)) == len(hours)
        if len(route) > 1:
            assert network.region_of[route[-1]] == destination
    assert set(lengths) == {1, 2, 3, 4}


def test_small_capacities_overflow_their_15_minute_windows():
    """Arrivals come in linehaul waves, so a small network sees R5's condition quickly."""
    hubs = [
        {
            "code": code,
            "region": region,
            "capacity_per_window": 5,
            "alternate": None,
            "transit_hours": {"A": 12 if region == "A" else 40, "B": 12 if region == "B" else 40},
        }
        for code, region in (("A1", "A"), ("A2", "A"), ("B1", "B"), ("B2", "B"))
    ]
    config = LifecycleConfig(seed=1, concurrency=300)
    window_ms = 15 * 60_000
    arrivals = Counter(
        (i.event["hub"], i.event["occurred_at"] // window_ms)
        for i in itertools.islice(generate_items(config, hubs), 20_000)
        if i.kind is ItemKind.VALID and i.event["event_type"] == "ARRIVED_HUB"
    )
    assert max(arrivals.values()) > 5
