from __future__ import annotations

import itertools

from streams.tools.loadgen.config import LifecycleConfig
from streams.tools.loadgen.driver import drive
from streams.tools.loadgen.profiles import constant
from streams.tools.loadgen.stream import generate_items
from streams.tools.loadgen.summary import StreamSummary, counted, summarize

CONFIG = LifecycleConfig(seed=11, concurrency=100, p_malformed=0.02, p_duplicate=0.05)


def test_expected_outcomes_add_up():
    items = list(itertools.islice(generate_items(CONFIG), 5_000))
    summary = summarize(items)
    expected = summary.expected()
    assert sum(expected.values()) == summary.total == 5_000
    assert expected["applied"] == sum(i.kind == "valid" for i in items)
    assert expected["duplicates"] == sum(i.kind == "duplicate" for i in items) > 0
    assert expected["dead_lettered"] == sum(i.defect is not None for i in items) > 0
    assert sum(summary.by_event_type.values()) == summary.valid
    assert sum(summary.by_defect.values()) == summary.malformed
    assert summary.as_dict()["expected"] == expected


def test_counted_matches_exactly_what_the_driver_sent():
    clock = [0.0]

    def sleep(s: float) -> None:
        clock[0] += s

    summary = StreamSummary()
    received: list = []
    result = drive(
        counted(generate_items(CONFIG), summary), received.extend, constant(700),
        duration_s=3.3, clock=lambda: clock[0], sleep=sleep, progress=False,
    )  # fmt: skip
    assert summary.total == result.sent == len(received)
    assert summarize(received).as_dict() == summary.as_dict()
