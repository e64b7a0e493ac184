from __future__ import annotations

import pytest

from streams.monitoring.lag import is_ignored_topic


@pytest.mark.parametrize(
    ("topic", "ignored"),
    [
        ("shipstream-all-shipments-changelog", True),
        ("shipstream-all-__assignor-__leader", True),
        ("reference.hubs", True),
        ("t1.reference.hubs", True),
        ("shipments.events", False),
        ("shipments.updates", False),
    ],
)
def test_only_input_topics_count_as_lag(topic: str, ignored: bool) -> None:
    assert is_ignored_topic(topic) is ignored
