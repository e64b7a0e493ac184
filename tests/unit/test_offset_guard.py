"""The commit guard: faust commits only offsets that were processed or proven empty."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.consumer.fetcher import FetchResult
from faust.transport.consumer import Consumer
from faust.types import TP
from intervaltree import IntervalTree

from streams.metrics import Metrics
from streams.patches import continuity, offset_guard
from streams.patches.offset_guard import ProvenGaps, head_hole, uncovered

TOPIC = "shipments.events"
PART = TP(TOPIC, 6)
KEY = (TOPIC, 6)


@pytest.fixture(autouse=True)
def guard(monkeypatch: pytest.MonkeyPatch) -> offset_guard._State:
    offset_guard.install()
    state = offset_guard._State()
    state.proven.want(KEY)
    monkeypatch.setattr(offset_guard, "STATE", state)
    return state


class FakeConsumer(SimpleNamespace):
    """The attributes faust's offset bookkeeping reads, and a recorded seek."""

    def __init__(self, committed: int | None, acked: list[int]) -> None:
        super().__init__(
            _committed_offset=defaultdict(lambda: None, {PART: committed}),
            _acked=defaultdict(list, {PART: list(acked)}),
            _acked_index=defaultdict(set, {PART: set(acked)}),
            _gap=defaultdict(IntervalTree),
            seeks=[],
        )

    async def seek_wait(self, partitions: dict[TP, int]) -> None:
        self.seeks.append(dict(partitions))


def new_offset(consumer: FakeConsumer) -> int | None:
    result: int | None = Consumer._new_offset(consumer, PART)  # type: ignore[arg-type]
    return result


def test_uncovered_finds_what_a_fetch_skipped() -> None:
    assert uncovered(10, 14, [10, 11, 12, 13]) == []
    assert uncovered(10, 14, [10, 12, 13]) == [(11, 12)]
    assert uncovered(10, 15, [12]) == [(10, 12), (13, 15)]
    assert uncovered(10, 12, []) == [(10, 12)]


def test_head_hole_only_when_the_committed_offset_is_neither_acked_nor_a_gap() -> None:
    assert head_hole(10, [11, 12], []) is True
    assert head_hole(10, [10, 11], []) is False
    assert head_hole(10, [11, 12], [(10, 11)]) is False
    assert head_hole(None, [11], []) is False
    assert head_hole(10, [], []) is False


def test_gaps_of_partitions_not_committed_from_acks_are_not_kept() -> None:
    gaps = ProvenGaps()
    gaps.record(("app-shipments-changelog", 6), 0, 20, [0, 5])  # compacted: holes everywhere
    assert gaps.take(("app-shipments-changelog", 6), None) == []


def test_proven_gaps_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offset_guard, "MAX_GAPS_PER_PARTITION", 4)
    gaps = ProvenGaps()
    gaps.want(KEY)
    gaps.record(KEY, 0, 10, [1, 3, 5, 7, 9])  # 5 gaps: over the bound, the oldest half goes
    assert gaps.take(KEY, None) == [(4, 5), (6, 7), (8, 9)]


def test_proven_gaps_below_the_commit_are_dropped() -> None:
    gaps = ProvenGaps()
    gaps.want(KEY)
    gaps.record(KEY, 0, 20, [0, 1, 2, 5, 6, 19])
    assert gaps.take(KEY, 4) == [(4, 5), (7, 19)]
    assert gaps.take(KEY, 4) == []


def test_nothing_is_committed_before_the_committed_offset_is_read(
    guard: offset_guard._State,
) -> None:
    consumer = FakeConsumer(committed=None, acked=[4880, 4881, 4882])
    assert new_offset(consumer) is None
    guard.based.add(KEY)
    consumer._committed_offset[PART] = 4531
    assert new_offset(consumer) is None  # 4531.. were never processed


def test_an_inferred_gap_is_refused(guard: offset_guard._State) -> None:
    """The 100k-event loss: a jump after a seek must not commit the records it jumps over."""
    guard.based.add(KEY)
    consumer = FakeConsumer(committed=4531, acked=[4531])
    asyncio.run(Consumer._add_gap(consumer, PART, 4532, 4901))  # type: ignore[arg-type]
    assert new_offset(consumer) == 4532
    assert guard.refused_gaps == 1


def test_a_gap_the_fetcher_proved_is_committed_through(guard: offset_guard._State) -> None:
    guard.based.add(KEY)
    guard.proven.record(KEY, 10, 14, [10, 12, 13])  # 11: a transaction marker
    consumer = FakeConsumer(committed=10, acked=[10, 12, 13])
    assert new_offset(consumer) == 14


def test_a_proven_gap_at_the_committed_offset_is_not_a_hole(guard: offset_guard._State) -> None:
    guard.based.add(KEY)
    guard.proven.record(KEY, 10, 13, [11, 12])
    consumer = FakeConsumer(committed=10, acked=[11, 12])
    assert new_offset(consumer) == 13


def test_duplicate_acks_do_not_stall_the_commit(guard: offset_guard._State) -> None:
    guard.based.add(KEY)
    consumer = FakeConsumer(committed=10, acked=[10, 10, 11, 11, 12])
    assert new_offset(consumer) == 13


def test_a_skipped_record_holds_the_commit_then_is_delivered_again(
    guard: offset_guard._State, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard.based.add(KEY)
    consumer = FakeConsumer(committed=10, acked=[11, 12])

    async def commit_twice() -> list[int | None]:
        first = new_offset(consumer)
        monkeypatch.setattr(offset_guard, "HOLE_GRACE_S", 0.0)
        second = new_offset(consumer)
        await asyncio.sleep(0)
        return [first, second]

    assert asyncio.run(commit_twice()) == [None, None]
    assert consumer.seeks == [{PART: 10}]
    assert guard.redeliveries == 1


class FakeRecords:
    """aiokafka's PartitionRecords: yields records, moving next_fetch_offset like the real one."""

    def __init__(self, start: int, layout: list[Any]) -> None:
        self.next_fetch_offset = start
        self._it = self._walk(layout)

    def _walk(self, layout: list[Any]) -> Any:
        for item in layout:
            if isinstance(item, int):
                self.next_fetch_offset = item + 1
                yield SimpleNamespace(offset=item)
            else:  # ("marker", next_offset): a control batch the fetcher skips
                self.next_fetch_offset = item[1]

    def __iter__(self) -> FakeRecords:
        return self

    def __next__(self) -> Any:
        return next(self._it)


def fetch_result(start: int, layout: list[Any]) -> FetchResult:
    state = SimpleNamespace(paused=False, position=start)
    state.consumed_to = lambda offset: setattr(state, "position", offset)
    assignment = SimpleNamespace(active=True, state_value=lambda tp: state)
    return FetchResult(
        PART, assignment=assignment, partition_records=FakeRecords(start, layout), backoff=0
    )


def test_getall_records_what_the_fetch_covered_but_did_not_return(
    guard: offset_guard._State,
) -> None:
    result = fetch_result(100, [100, 101, ("marker", 103), 103, ("marker", 105)])
    assert [r.offset for r in result.getall()] == [100, 101, 103]
    assert guard.proven.take(KEY, None) == [(102, 103), (104, 105)]


def test_getall_in_pieces_keeps_the_gap_between_them(guard: offset_guard._State) -> None:
    result = fetch_result(100, [100, 101, ("marker", 103), 103])
    assert [r.offset for r in result.getall(max_records=2)] == [100, 101]
    assert [r.offset for r in result.getall()] == [103]
    assert guard.proven.take(KEY, None) == [(102, 103)]


def test_getall_tells_the_continuity_check_what_each_fetch_covered(
    guard: offset_guard._State, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(continuity, "STATE", continuity.Continuity())
    result = fetch_result(100, [100, 101, ("marker", 103), 103])
    first = result.getall(max_records=2)
    rest = result.getall()
    assert (first.start, first.end, rest.start, rest.end) == (100, 102, 102, 104)


def test_the_counts_are_exported_at_scrape_time(guard: offset_guard._State) -> None:
    guard.redeliveries = 3
    guard.refused_gaps = 7
    text = Metrics().render().decode()
    assert "shipstream_commit_redeliveries_total 3.0" in text
    assert "shipstream_inferred_gaps_refused_total 7.0" in text


def test_an_unproven_faust_or_aiokafka_version_is_a_hard_stop() -> None:
    offset_guard.check_versions(dict(offset_guard.PROVEN_ON))
    with pytest.raises(offset_guard.UnprovenVersionError, match="make chaos"):
        offset_guard.check_versions({**offset_guard.PROVEN_ON, "faust": "0.16.0"})


class RecoveringConsumer(SimpleNamespace):
    """What faust's resume_partitions and perform_seek touch, with the order of events."""

    def __init__(self) -> None:
        changelog = TP("app-processing-shipments-changelog", 6)
        super().__init__(
            app=SimpleNamespace(tables=SimpleNamespace(changelog_topics={changelog.topic})),
            active=set(),
            _paused_partitions={PART, changelog},
            _read_offset=defaultdict(lambda: None),
            _committed_offset=defaultdict(lambda: None),
            log=[],
            changelog=changelog,
        )

    def _get_active_partitions(self) -> set[TP]:
        return self.active

    def assignment(self) -> set[TP]:
        return {PART, self.changelog}

    async def seek_to_committed(self) -> dict[TP, int]:
        self.log.append(("seek", set(self.active)))
        return {PART: 900}


def test_recovery_resumes_stream_partitions_only_after_seeking_them() -> None:
    # Resumed before the seek, a stream partition delivered records from ahead of the commit
    # before those the seek reads again: its records out of order (chaos1796041851).
    c = RecoveringConsumer()
    Consumer.resume_partitions(c, {PART, c.changelog})  # type: ignore[arg-type]
    assert c.active == {c.changelog}  # the changelog at once, the stream partition not yet
    asyncio.run(Consumer.perform_seek(c))  # type: ignore[arg-type]
    assert c.log == [("seek", {c.changelog})]  # sought while still paused
    assert c.active == {PART, c.changelog} and c._paused_partitions == set()
