from __future__ import annotations

from streams.monitoring.lag import PartitionLag
from streams.tools.cli.lag import as_json, render
from streams.tools.cli.main import parser

SAMPLES = [
    PartitionLag("g1", "t.events", 0, 4, 0, 10),
    PartitionLag("g1", "t.events", 1, None, 2, 5),
    PartitionLag("g2", "t.updates", 0, 7, 0, 7),
]


def test_table_has_a_total_per_group_and_overall() -> None:
    lines = render(SAMPLES).splitlines()
    assert lines[0].split() == [
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
    ]
    assert lines[1].split() == ["g1", "t.events", "0", "4", "10", "6"]
    assert lines[2].split() == ["g1", "t.events", "1", "-", "5", "3"]
    assert lines[3].split() == ["g1", "(total)", "9"]
    assert lines[-1] == "total lag: 9"


def test_json() -> None:
    out = as_json(SAMPLES)
    assert out["total_lag"] == 9
    assert out["groups"]["g2"] == {
        "total_lag": 0,
        "partitions": [
            {
                "topic": "t.updates",
                "partition": 0,
                "committed": 7,
                "log_end_offset": 7,
                "log_start_offset": 0,
                "lag": 0,
            }
        ],
    }


def test_groups_repeat() -> None:
    assert parser().parse_args(["lag", "--group", "a", "--group", "b"]).groups == ["a", "b"]
    assert parser().parse_args(["lag"]).groups is None
