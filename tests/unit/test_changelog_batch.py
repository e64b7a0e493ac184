"""changelog_batch against a stand-in for faust's Recovery: the bookkeeping its loop keeps.

The real restore, end to end, is ``tests/integration/test_restore.py``.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from faust.types import TP

from streams.patches import changelog_batch

ACTIVE = TP("app-shipments-changelog", 0)
STANDBY = TP("app-shipments-changelog", 1)


@dataclass
class Msg:
    tp: TP
    offset: int
    key: bytes
    value: bytes | None


@dataclass(eq=False)  # hashable: faust keys the recovery buffers by table
class Table:
    recovery_buffer_size: int = 3
    standby_buffer_size: int = 2
    _on_changelog_event: Any = None
    applied: list[list[tuple[int, bytes]]] = field(default_factory=list)

    def apply_changelog_batch(self, batch: list[Any]) -> None:
        self.applied.append([(e.message.offset, e.message.key) for e in batch])


class Tables:
    def __init__(self) -> None:
        self.standbys_ready = False

    def on_standbys_ready(self) -> None:
        self.standbys_ready = True


class Recovery:
    """The attributes of faust 0.15.3's Recovery that its changelog loop reads and writes."""

    def __init__(self, table: Table, highwater: int) -> None:
        self.active_tps = {ACTIVE}
        self.standby_tps = {STANDBY}
        self.tp_to_table = {ACTIVE: table, STANDBY: table}
        self.active_offsets: Counter[TP] = Counter({ACTIVE: -1})
        self.standby_offsets: Counter[TP] = Counter({STANDBY: -1})
        self.active_highwaters = {ACTIVE: highwater}
        self.standby_highwaters = {STANDBY: highwater}
        self.buffer_sizes: dict[TP, int] = {}
        self.buffers: defaultdict[Any, list[Any]] = defaultdict(list)
        self._active_events_received_at: dict[TP, float] = {}
        self._standby_events_received_at: dict[TP, float] = {}
        self._last_flush_at: float | None = None
        self._processing_times: deque[float] = deque()
        self.num_samples_required_for_estimate = 1000
        self._last_active_event_processed_at: float | None = None
        self.in_recovery = True
        self._actives_span = None
        self._standbys_span = None
        self.signal_recovery_end = asyncio.Event()
        self.tables = Tables()

    def need_recovery(self) -> bool:
        return any(h - self.active_offsets[tp] > 0 for tp, h in self.active_highwaters.items())

    def standby_remaining_total(self) -> int:
        return sum(h - self.standby_offsets[tp] for tp, h in self.standby_highwaters.items())

    def flush_buffers(self) -> None:
        for table, buf in self.buffers.items():
            table.apply_changelog_batch(buf)
            buf.clear()

    def _set_recovery_ended(self) -> None:
        self.in_recovery = False


def msgs(tp: TP, offsets: range) -> list[Msg]:
    return [Msg(tp, o, b"k%d" % o, b"v") for o in offsets]


def test_a_fetch_is_buffered_and_written_when_the_buffer_is_full_past_the_seen_offset() -> None:
    table = Table()
    recovery = Recovery(table, highwater=9)
    assert changelog_batch.apply_fetch(recovery, ACTIVE, msgs(ACTIVE, range(2))) == 2
    assert table.applied == [] and recovery.active_offsets[ACTIVE] == 1
    # a re-fetch of offsets already seen is skipped; the buffer reaches 3 and is written
    assert changelog_batch.apply_fetch(recovery, ACTIVE, msgs(ACTIVE, range(4))) == 2
    assert table.applied == [[(0, b"k0"), (1, b"k1"), (2, b"k2"), (3, b"k3")]]
    assert recovery.buffers[table] == [] and recovery.active_offsets[ACTIVE] == 3
    assert changelog_batch.apply_fetch(recovery, ACTIVE, msgs(ACTIVE, range(2, 4))) == 0


async def test_recovery_ends_once_the_actives_reach_their_highwater_with_the_buffers_written() -> (
    None
):
    table = Table(recovery_buffer_size=100)
    recovery = Recovery(table, highwater=5)
    changelog_batch.apply_fetch(recovery, ACTIVE, msgs(ACTIVE, range(3)))
    changelog_batch.check_done(recovery)
    assert recovery.in_recovery and not recovery.signal_recovery_end.is_set()
    changelog_batch.apply_fetch(recovery, ACTIVE, msgs(ACTIVE, range(3, 6)))
    changelog_batch.check_done(recovery)
    assert not recovery.in_recovery and recovery.signal_recovery_end.is_set()
    assert [o for batch in table.applied for o, _ in batch] == list(range(6))


def test_standbys_use_their_own_offsets_and_buffer_and_are_ready_when_caught_up() -> None:
    table = Table()
    recovery = Recovery(table, highwater=2)
    recovery.in_recovery = False
    changelog_batch.apply_fetch(recovery, STANDBY, msgs(STANDBY, range(2)))
    assert recovery.standby_offsets[STANDBY] == 1 and recovery.active_offsets[ACTIVE] == -1
    assert table.applied == [[(0, b"k0"), (1, b"k1")]]  # the standby buffer holds 2
    changelog_batch.check_done(recovery)
    assert not recovery.tables.standbys_ready
    changelog_batch.apply_fetch(recovery, STANDBY, msgs(STANDBY, range(3)))
    changelog_batch.check_done(recovery)
    assert recovery.tables.standbys_ready


def test_only_tracked_partitions_of_tables_without_a_changelog_callback_take_this_path() -> None:
    table = Table()
    recovery = Recovery(table, highwater=2)
    assert changelog_batch.tracks(recovery, ACTIVE) and changelog_batch.tracks(recovery, STANDBY)
    assert not changelog_batch.tracks(recovery, TP("app-shipments-changelog", 7))
    table._on_changelog_event = lambda event: None
    assert not changelog_batch.tracks(recovery, ACTIVE)
