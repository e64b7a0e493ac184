"""Routes over the hub network, planned so that every hop brings the parcel closer.

A route only visits hubs whose transit time to the destination region is strictly smaller than
the previous hub's. That keeps an on-time shipment's ETA (scan time + transit hours) roughly
flat along the way, so its promise holds and only the shipments meant to be late (or held up
by an exception) trip rules R3 and R4.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from streams.reference.hubs import regions_of

#: Share of shipments delivered inside their origin region.
P_SAME_REGION = 0.3
#: A stop is on the way when going first -> stop -> destination takes at most this much longer
#: than first -> destination; keeps Boston -> Los Angeles from calling at Miami.
MAX_DETOUR = 1.3


class Network:
    """Indexes of a hub network for route planning; hub data is read, never changed."""

    def __init__(self, hubs: Sequence[Mapping[str, Any]]) -> None:
        if not hubs:
            msg = "a network needs at least one hub"
            raise ValueError(msg)
        self.regions = regions_of(hubs)
        self.capacity = {str(h["code"]): int(h["capacity_per_window"]) for h in hubs}
        self.region_of = {str(h["code"]): str(h["region"]) for h in hubs}
        self._transit = {str(h["code"]): dict(h["transit_hours"]) for h in hubs}
        self.by_region = {
            r: sorted(c for c, hr in self.region_of.items() if hr == r) for r in self.regions
        }
        self._region_weight = [
            sum(self.capacity[c] for c in self.by_region[r]) for r in self.regions
        ]

    def transit_hours(self, hub: str, region: str) -> int:
        """Hours from ``hub`` to delivery in ``region``."""
        return int(self._transit[hub][region])

    def pick_regions(self, rng: random.Random) -> tuple[str, str]:
        """Origin and destination, busier regions (more hub capacity) chosen more often."""
        origin = rng.choices(self.regions, weights=self._region_weight)[0]
        others = [i for i, r in enumerate(self.regions) if r != origin]
        if not others or rng.random() < P_SAME_REGION:
            return origin, origin
        weights = [self._region_weight[i] for i in others]
        return origin, self.regions[rng.choices(others, weights=weights)[0]]

    def pick_hub(self, rng: random.Random, candidates: Sequence[str]) -> str:
        """A hub among ``candidates``, weighted by capacity as parcel volume is."""
        return rng.choices(candidates, weights=[self.capacity[c] for c in candidates])[0]

    def route(self, rng: random.Random, origin: str, destination: str, max_hubs: int) -> list[str]:
        """Up to ``max_hubs`` hubs, each strictly closer (in transit hours) to the destination.

        One hub in the origin region, one in the destination region, stops on the way between.
        """
        first = self.pick_hub(rng, self.by_region[origin])
        route = [first]
        if max_hubs < 2:
            return route
        first_t = self.transit_hours(first, destination)
        closer = [
            h for h in self.by_region[destination] if self.transit_hours(h, destination) < first_t
        ]
        if not closer:
            return route
        last = self.pick_hub(rng, closer)
        last_t = self.transit_hours(last, destination)
        budget = first_t * MAX_DETOUR
        between = [
            h
            for h in self.capacity
            if h not in (first, last)
            and last_t < self.transit_hours(h, destination) < first_t
            and self.transit_hours(first, self.region_of[h]) + self.transit_hours(h, destination)
            <= budget
        ]
        stops: list[str] = []
        while between and len(stops) < max_hubs - 2:
            stop = self.pick_hub(rng, between)
            between.remove(stop)
            # Keep transit times strictly decreasing: drop candidates tied with a chosen stop.
            stop_t = self.transit_hours(stop, destination)
            between = [h for h in between if self.transit_hours(h, destination) != stop_t]
            stops.append(stop)
        stops.sort(key=lambda h: -self.transit_hours(h, destination))
        return [first, *stops, last]
