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
from collections.abc import Iterator
from contextlib import contextmanager

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
