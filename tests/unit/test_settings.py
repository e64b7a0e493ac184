from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings, SettingsError, from_env


def test_to_env_round_trips_through_from_env() -> None:
    s = Settings(
        role="decision",
        topic_prefix="t.",
        partitions=4,
        data_dir=Path("data/x"),
        instance_id="decision-1",
        max_body_bytes=10,
        max_future_skew_s=60,
        endpoint_url="http://e:1",
    )
    assert from_env(s.to_env()) == s


def test_bad_values_say_what_to_set() -> None:
    with pytest.raises(SettingsError, match="SHIPSTREAM_ROLE"):
        from_env({"SHIPSTREAM_ROLE": "everything"})
    with pytest.raises(SettingsError, match="SHIPSTREAM_PARTITIONS"):
        from_env({"SHIPSTREAM_PARTITIONS": "many"})
    with pytest.raises(SettingsError, match="SHIPSTREAM_MAX_FUTURE_SKEW_S"):
        from_env({"SHIPSTREAM_MAX_FUTURE_SKEW_S": "-1"})


def test_future_skew_defaults_to_an_hour() -> None:
    assert Settings().max_future_skew_ms == 3_600_000
    assert from_env({"SHIPSTREAM_MAX_FUTURE_SKEW_S": "5"}).max_future_skew_ms == 5000


def test_group_per_role() -> None:
    assert Settings(role="processing").group_id == "shipstream-processing"
    assert Settings().roles == ("ingestion", "processing", "decision", "communication")


def test_webhook_settings_round_trip_through_the_environment(tmp_path) -> None:
    env = {
        "SHIPSTREAM_INGEST_AUTH": "hmac",
        "SHIPSTREAM_INGEST_KEYS_FILE": str(tmp_path / "ingest.json"),
        "SHIPSTREAM_INGEST_MAX_RECORDS": "50",
        "SHIPSTREAM_DELIVERY_KEYS_FILE": str(tmp_path / "delivery.json"),
        "SHIPSTREAM_DELIVERY_RETRY_BUDGET_S": "600",
    }
    s = from_env(env)
    assert s.webhooks.ingest_auth == "hmac" and s.webhooks.ingest_max_records == 50
    assert s.webhooks.delivery_retry_budget_s == 600
    assert from_env(s.to_env()) == s
    assert from_env({}).webhooks.ingest_auth == "none"  # local default; manifests set hmac


def test_hmac_ingest_needs_a_key_file() -> None:
    with pytest.raises(SettingsError, match="SHIPSTREAM_INGEST_KEYS_FILE"):
        from_env({"SHIPSTREAM_INGEST_AUTH": "hmac"})
