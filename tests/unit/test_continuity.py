"""Delivery continuity: a partition's records reach its agent as one unbroken run.

The expected offsets here are written from the rule (the committed offset, then the end of
each delivered fetch), not read back from the module.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.consumer import Consumer
from faust.types import TP

from streams.patches import batch_delivery, continuity, offset_guard
from streams.patches.batch_delivery import BatchSource
from streams.patches.continuity import Continuity, Covered
from tests.unit.test_batch_delivery import FakeFlowControl

TOPIC = "shipments.events"
KEY = (TOPIC, 5)


def rec(offset: int, partition: int = 5, topic: str = TOPIC) -> Any:
    return SimpleNamespace(topic=topic, partition=partition, offset=offset)


def fetch(start: int, end: int, offsets: list[int] | None = None) -> Covered:
    """What aiokafka's fetcher returned for one partition, covering ``[start, end)``."""
    out = Covered(rec(o) for o in (range(start, end) if offsets is None else offsets))
    out.start, out.end = start, end
    return out


def offsets(records: Any) -> list[int]:
    return [r.offset for r in records]


def test_nothing_is_delivered_before_the_partition_is_sought() -> None:
    c = Continuity()
    assert c.admit(KEY, fetch(621, 700)) == ((), None)
    c.base(KEY, 503)
    records, again = c.admit(KEY, fetch(503, 621))
    assert offsets(records) == list(range(503, 621)) and again is None


def test_contiguous_fetches_are_delivered_whole() -> None:
    c = Continuity()
    c.base(KEY, 100)
    for start, end in [(100, 150), (150, 151), (151, 400)]:
        records, again = c.admit(KEY, fetch(start, end))
        assert offsets(records) == list(range(start, end)) and again is None
    assert c.expected(KEY) == 400


def test_a_fetch_that_starts_past_the_next_record_is_not_delivered_and_read_again() -> None:
    # chaos1796097004: after the rebalance the fetcher was at 621 while 503..620 had never
    # reached the agent; 621.. was applied first and 503..620 ten seconds later.
    c = Continuity()
    c.base(KEY, 503)
    assert c.admit(KEY, fetch(621, 700)) == ((), 503)
    assert c.reads_again == 1 and c.expected(KEY) == 503
    records, again = c.admit(KEY, fetch(503, 621))  # after the seek back
    assert offsets(records) == list(range(503, 621)) and again is None
    records, _ = c.admit(KEY, fetch(621, 700))
    assert offsets(records) == list(range(621, 700))


def test_a_replay_delivers_only_what_was_not_delivered_yet() -> None:
    c = Continuity()
    c.base(KEY, 0)
    c.admit(KEY, fetch(0, 50))
    records, again = c.admit(KEY, fetch(40, 60))  # a fetch from before a seek, or a replay
    assert offsets(records) == list(range(50, 60)) and again is None
    records, _ = c.admit(KEY, fetch(10, 30))
    assert offsets(records) == [] and c.expected(KEY) == 60


def test_offsets_a_fetch_covered_without_records_are_no_hole() -> None:
    c = Continuity()
    c.base(KEY, 100)
    # 102 is a transaction marker: covered by the fetch, not returned.
    records, again = c.admit(KEY, fetch(100, 104, [100, 101, 103]))
    assert offsets(records) == [100, 101, 103] and again is None
    records, again = c.admit(KEY, fetch(104, 106))
    assert offsets(records) == [104, 105] and again is None


def test_a_fetch_of_markers_only_is_merged_into_the_next_one() -> None:
    c = Continuity()
    assert c.covered(KEY, 100, 103, []) == []  # nothing returned: never reaches admit
    merged = c.covered(KEY, 103, 105, [rec(103), rec(104)])
    assert (merged.start, merged.end) == (100, 105)
    c.base(KEY, 100)
    records, again = c.admit(KEY, merged)
    assert offsets(records) == [103, 104] and again is None


def test_a_hole_the_log_no_longer_has_is_given_up_after_the_reads() -> None:
    c = Continuity()
    c.base(KEY, 10)
    for _ in range(continuity.MAX_READS_AGAIN):
        assert c.admit(KEY, fetch(500, 510)) == ((), 10)
    records, again = c.admit(KEY, fetch(500, 510))
    assert offsets(records) == list(range(500, 510)) and again is None
    assert c.given_up == 1 and c.expected(KEY) == 510


def test_a_failed_seek_does_not_count_as_a_read() -> None:
    c = Continuity()
    c.base(KEY, 10)
    for _ in range(continuity.MAX_READS_AGAIN + 3):
        assert c.admit(KEY, fetch(500, 510)) == ((), 10)
        c.not_read_again(KEY)
    assert c.given_up == 0


def test_a_revoked_partition_delivers_nothing_until_sought_again() -> None:
    c = Continuity()
    c.base(KEY, 0)
    c.forget(KEY)
    assert c.admit(KEY, fetch(0, 5)) == ((), None)


# -- the hooks into faust and BatchSource ------------------------------------------------


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch) -> Continuity:
    fresh = Continuity()
    monkeypatch.setattr(continuity, "STATE", fresh)
    return fresh


def test_a_seek_forgets_what_a_batch_source_buffered_of_that_partition(state: Continuity) -> None:
    app = SimpleNamespace(flow_control=FakeFlowControl())
    source = BatchSource(app, TOPIC, max_records=100, within_s=0.0)  # type: ignore[arg-type]
    other = TP(TOPIC, 6)
    source.deliver(SimpleNamespace(), [(TP(*KEY), [rec(1), rec(2)]), (other, [rec(7, 6)])])
    state.base(KEY, 1)
    assert [(r.partition, r.offset) for r in source._records] == [(6, 7)]


class SeekingConsumer(SimpleNamespace):
    """faust's consumer as perform_seek and seek_wait see it; the seeks are recorded."""

    def __init__(self, committed: dict[TP, int | None], earliest: dict[TP, int]) -> None:
        super().__init__(
            app=SimpleNamespace(
                tables=SimpleNamespace(changelog_topics=set()),
                conf=SimpleNamespace(consumer_auto_offset_reset="earliest"),
            ),
            earliest=earliest,
            active=set(),
            _paused_partitions=set(),
            _read_offset=defaultdict(lambda: None),
            _committed_offset=defaultdict(lambda: None),
            committed=committed,
            seeks=[],
        )

    def _get_active_partitions(self) -> set[TP]:
        return self.active

    def assignment(self) -> set[TP]:
        return set(self.committed)

    async def seek_to_committed(self) -> dict[TP, int | None]:
        return dict(self.committed)

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.earliest[tp] for tp in tps}


def test_faust_s_seek_to_the_committed_offsets_bases_every_assigned_partition(
    state: Continuity,
) -> None:
    offset_guard.install()
    p5, p6 = TP(TOPIC, 5), TP(TOPIC, 6)
    c = SeekingConsumer({p5: 503, p6: None}, earliest={p5: 0, p6: 40})
    state.base(KEY, 900)  # from before: superseded
    asyncio.run(Consumer.perform_seek(c))  # type: ignore[arg-type]
    assert state.expected(KEY) == 503
    # No committed offset: the log's first offset, not whatever the fetcher returns first.
    # aiokafka does not move such a partition at the seek, so records it fetched before (and
    # that were dropped) would be skipped (chaos1796105364: the first events of 11 shipments).
    assert state.expected((TOPIC, 6)) == 40
    assert state.admit((TOPIC, 6), fetch(45, 50)) == ((), 40)


def test_a_failed_batch_is_read_again_before_what_was_buffered_behind_it(
    state: Continuity,
) -> None:
    seeks: list[dict[TP, int]] = []

    async def seek_wait(partitions: dict[TP, int]) -> None:
        for tp, offset in partitions.items():
            state.base(tp, offset)  # what offset_guard's seek_wait hook does
        seeks.append(dict(partitions))

    consumer = SimpleNamespace(
        _unacked_messages=set(),
        _waiting_for_ack=None,
        seek_wait=seek_wait,
    )
    app = SimpleNamespace(
        flow_control=FakeFlowControl(),
        consumer=consumer,
        monitor=SimpleNamespace(stream_inbound_time={}),
    )
    source = BatchSource(app, TOPIC, max_records=2, within_s=0.0)  # type: ignore[arg-type]
    source.deliver(consumer, [(TP(*KEY), [rec(10), rec(11), rec(12), rec(13)])])

    async def boom(_records: Any) -> None:
        msg = "the broker went away"
        raise RuntimeError(msg)

    with pytest.raises(RuntimeError):
        asyncio.run(source.run(boom))
    assert seeks == [{TP(*KEY): 10}]
    assert list(source._records) == []  # 12, 13 come again after 10, 11
    assert state.expected(KEY) == 10


def take_fetch(records: dict[TP, Any], active: set[TP] | None, generation: int) -> Any:
    """The fetcher loop's gate over one fetch; the consumer is in generation 4 by now."""
    app = SimpleNamespace(flow_control=FakeFlowControl(), consumer_generation_id=4)
    source = BatchSource(app, TOPIC, max_records=100, within_s=0.0)  # type: ignore[arg-type]
    consumer = SimpleNamespace(
        app=app, flow_active=True, _read_offset={}, _buffered_partitions=set()
    )
    recovery = SimpleNamespace(active_tps=set(), standby_tps=set(), tp_to_table={})
    taken = asyncio.run(
        batch_delivery._take_fetch(consumer, records, active, generation, {TOPIC: source}, recovery)
    )
    return taken, source


def test_the_gate_reads_a_hole_again_and_delivers_the_rest_of_the_fetch(
    state: Continuity,
) -> None:
    p5, p6 = TP(TOPIC, 5), TP(TOPIC, 6)
    state.base(p5, 503)
    state.base(p6, 40)
    records = {p5: fetch(621, 700), p6: fetch(40, 42, [40, 41])}
    taken, source = take_fetch(records, {p5, p6}, 4)
    assert taken.read_again == {p5: 503}
    assert [(tp, offsets(b)) for tp, b in taken.batches[source]] == [(p6, [40, 41])]


def test_the_gate_delivers_nothing_of_a_fetch_that_crossed_a_rebalance(
    state: Continuity,
) -> None:
    state.base(KEY, 0)
    taken, _ = take_fetch({TP(*KEY): fetch(0, 5)}, None, 3)  # fetched in generation 3
    assert taken.batches == {} and taken.read_again == {} and state.expected(KEY) == 0
