"""The current-event hook: table writes of a batch land on behalf of each value's own event."""

from __future__ import annotations

from typing import Any, cast

import faust

from streams.patches.event_context import current


class FakeEvent:
    """Only its identity matters: faust keeps a weak reference to the current event."""


def test_the_event_is_current_inside_the_block_only() -> None:
    first, second = FakeEvent(), FakeEvent()
    assert faust.current_event() is None
    with current(cast(Any, first)):
        assert faust.current_event() is first
        with current(cast(Any, second)):
            assert faust.current_event() is second
        assert faust.current_event() is first
    assert faust.current_event() is None
