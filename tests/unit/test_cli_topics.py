from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from streams.errors import ShipstreamError
from streams.settings import Settings
from streams.tools.cli.main import parser
from streams.tools.cli.topics import TopicInfo, _retrying, human_ms, render
from streams.tools.console import resolve, table
from streams.topics import DLQ, EVENTS, HUB_ARRIVALS, HUBS


def test_short_catalogue_and_concrete_names_resolve_with_the_prefix() -> None:
    s = Settings(topic_prefix="t1.")
    assert resolve(s, "events") == ("t1.shipments.events", EVENTS)
    assert resolve(s, "shipments.dlq") == ("t1.shipments.dlq", DLQ)
    assert resolve(s, "t1.reference.hubs") == ("t1.reference.hubs", HUBS)
    assert resolve(s, "hub-arrivals") == ("t1.shipments.hub-arrivals", HUB_ARRIVALS)
    assert resolve(s, "other.topic") == ("other.topic", None)


def test_retention_is_human() -> None:
    assert human_ms("604800000") == "7d"
    assert human_ms("3600000") == "1h"
    assert human_ms("1500") == "1500ms"
    assert human_ms("-1") == "forever"
    assert human_ms(None) == "-"


def test_table_aligns_numbers_right() -> None:
    out = table([["a", 1], ["bbb", 100]], ("NAME", "N")).splitlines()
    assert out == ["NAME    N", "a       1", "bbb   100"]


def test_drift_from_the_catalogue_is_reported() -> None:
    info = TopicInfo(
        "t.shipments.dlq",
        True,
        offsets={0: (0, 3), 1: (2, 2)},
        config={"cleanup.policy": "delete", "retention.ms": "604800000"},
        expected_partitions=4,
        expected_config={"cleanup.policy": "delete", "retention.ms": "2592000000"},
    )
    assert info.records == 3 and info.partitions == 2
    assert info.drift() == [
        "2 partitions, declared 4",
        "retention.ms=604800000, declared 2592000000",
    ]
    assert TopicInfo("t.x", False).drift() == ["missing; run `shipstream bootstrap`"]
    text = render([info])
    assert "t.shipments.dlq" in text and "PARTITION  LOW  HIGH  RECORDS" in text
    assert "PARTITION  LOW" not in render([info], brief=True)
    assert info.as_json()["offsets"][0] == {"partition": 0, "low": 0, "high": 3, "records": 3}


def test_arguments() -> None:
    a = parser().parse_args(["topics", "--all", "--json"])
    assert a.all and a.json and not a.brief


def test_admin_requests_are_retried_while_the_broker_says_so() -> None:
    answers = [KafkaException(KafkaError(KafkaError.LEADER_NOT_AVAILABLE)), "described"]

    def request() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert _retrying("describe", Settings(), request) == "described"
    assert answers == []


def test_a_permanent_admin_error_is_not_retried() -> None:
    calls = []

    def request() -> str:
        calls.append(1)
        raise KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))

    with pytest.raises(ShipstreamError, match="describe failed on Kafka"):
        _retrying("describe", Settings(), request)
    assert calls == [1]
