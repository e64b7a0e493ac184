"""The generated stream: many shipments in flight, their events interleaved by event time.

Events are emitted in event-time order across all shipments in flight, which is how a carrier
feed looks, with the disorder of real feeds laid over it: some events are held back until after
a later event of their shipment (out of order), some are sent twice (webhook retries), and now
and then a malformed record slips in. Everything comes from one RNG seeded from the config, so
the same config gives the same stream, item for item.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from streams.reference.hubs import load_hubs
from streams.tools.loadgen.config import LifecycleConfig
from streams.tools.loadgen.items import Fate, Item, ItemKind
from streams.tools.loadgen.lifecycle import HOUR_MS, MINUTE_MS, Lifecycle, plan_lifecycle
from streams.tools.loadgen.malformed import malformed_item
from streams.tools.loadgen.network import Network

# Heap entry tags: the next planned event of a shipment, a held-back event, a re-sent event.
_NEXT, _HELD, _DUP = 0, 1, 2
#: A held-back event is released up to this long (event time) after the later event it follows.
_HOLD_MS = 30 * MINUTE_MS
#: A webhook retry arrives up to this long (event time) after the original.
_RETRY_MS = 10 * MINUTE_MS


def generate_items(
    config: LifecycleConfig | None = None, hubs: Sequence[Mapping[str, Any]] | None = None
) -> Iterator[Item]:
    """An endless stream of items; bound it with ``itertools.islice`` or the driver's limits.

    ``hubs`` defaults to the shipped network, read when this is called (never at import).
    """
    config = config or LifecycleConfig()
    network = Network(hubs if hubs is not None else load_hubs())
    # A simulation, not security: a seeded, reproducible PRNG is the point.
    rng = random.Random(config.seed)  # noqa: S311
    return _run(config, network, rng)


def _run(config: LifecycleConfig, network: Network, rng: random.Random) -> Iterator[Item]:
    heap: list[tuple[int, int, int, Lifecycle, int, Any]] = []
    tiebreak = itertools.count()
    shipments = itertools.count()
    bad = itertools.count()

    def push(key: int, tag: int, life: Lifecycle, seq: int, payload: Any = None) -> None:
        heapq.heappush(heap, (key, next(tiebreak), tag, life, seq, payload))

    def start(created_at: int) -> None:
        shipment_id = f"{config.id_prefix}-{config.seed}-{next(shipments):08d}"
        life = plan_lifecycle(rng, network, config, shipment_id, created_at)
        push(created_at, _NEXT, life, 0, False)

    spread_ms = max(1, int(config.initial_spread_hours * HOUR_MS))
    for created_at in sorted(
        config.start_ms + rng.randrange(spread_ms) for _ in range(config.concurrency)
    ):
        start(created_at)

    while heap:
        key, _, tag, life, seq, payload = heapq.heappop(heap)
        if tag == _DUP:
            yield Item(ItemKind.DUPLICATE, life.shipment_id, payload, fate=life.fate)
        else:
            if tag == _HELD:
                event, out_of_order = payload, True
            else:
                event, out_of_order = life.event(seq), False
                last = seq == len(life.events) - 1
                if not last:
                    nxt = life.events[seq + 1].occurred_at
                    hold = _should_hold(rng, config, life, previous_held=bool(payload))
                    push(nxt, _NEXT, life, seq + 1, hold)
                    if hold:
                        # Strictly after the next event of the shipment, which is never held.
                        push(nxt + 1 + rng.randrange(_HOLD_MS), _HELD, life, seq, event)
                        continue
                else:
                    start(key + rng.randrange(2 * HOUR_MS))
            yield Item(
                ItemKind.VALID, life.shipment_id, event, fate=life.fate, out_of_order=out_of_order
            )
            if rng.random() < config.p_duplicate:
                retry = {**event, "attributes": dict(event["attributes"])}
                push(key + 1000 + rng.randrange(_RETRY_MS), _DUP, life, seq, retry)
        if rng.random() < config.p_malformed:
            shipment_id = f"{config.id_prefix}-{config.seed}-bad-{next(bad):06d}"
            yield malformed_item(rng, shipment_id, life.event(seq))


def _should_hold(
    rng: random.Random, config: LifecycleConfig, life: Lifecycle, *, previous_held: bool
) -> bool:
    """Whether to hold this event back until after the next event of its shipment.

    Never two in a row (so the one after really overtakes it), and never for shipments planned
    late, whose in-order scans must show the late ETA (R3/R4).
    """
    if previous_held or life.fate is Fate.LATE:
        return False
    return rng.random() < config.p_out_of_order
