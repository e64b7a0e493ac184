"""Table writes on behalf of one event of a batch: a hook into faust 0.15.3's current event.

A faust table write goes to the changelog partition (and the RocksDB partition store) of the
*current event*, a context variable faust sets while a stream yields an event. The decision
agent reads its updates in batches (``Stream.take_events``) so that one round trip acknowledges
a batch's decisions; it then writes each shipment's value on behalf of the event it came from,
which must be made current first. faust has no public way to do that; this sets the same
context variable its stream iterator sets (``faust.streams._current_event``).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from faust import streams as faust_streams
from faust.types import EventT


@contextmanager
def current(event: EventT) -> Iterator[None]:
    """Make ``event`` faust's current event inside the block."""
    var = faust_streams._current_event  # noqa: SLF001  # the hook this module exists for
    token = var.set(weakref.ref(event))
    try:
        yield
    finally:
        var.reset(token)


def write_back(
    table: MutableMapping[Any, Any],
    writes: Mapping[int, Iterable[tuple[Any, Any]]],
    events: Mapping[int, EventT],
) -> int:
    """Apply a batch's writes (partition -> [(key, value or None to delete)]) to a faust table.

    Each partition's writes are made on behalf of ``events[partition]``, an event of that
    partition from the same batch, so they land in that partition's changelog and store.
    Returns the number of writes.
    """
    n = 0
    for partition, items in writes.items():
        with current(events[partition]):
            for key, value in items:
                n += 1
                if value is not None:
                    table[key] = value
                    continue
                try:
                    del table[key]
                except KeyError:
                    pass  # created and deleted inside the batch: never reached the table
    return n
