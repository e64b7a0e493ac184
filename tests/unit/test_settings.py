from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings, SettingsError, describe, from_env, redact_url, variables


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


def test_webhook_settings_round_trip_through_the_environment(tmp_path: Path) -> None:
    env = {
        "SHIPSTREAM_INGEST_AUTH": "hmac",
        "SHIPSTREAM_INGEST_KEYS_FILE": str(tmp_path / "ingest.json"),
        "SHIPSTREAM_INGEST_MAX_RECORDS": "50",
        "SHIPSTREAM_DELIVERY_KEYS_FILE": str(tmp_path / "delivery.json"),
        "SHIPSTREAM_DELIVERY_RETRY_BUDGET_S": "600",
    }
    s = from_env(env)
    assert s.ingest_auth == "hmac" and s.ingest_max_records == 50
    assert s.delivery_retry_budget_s == 600
    assert from_env(s.to_env()) == s
    assert from_env({}).ingest_auth == "none"  # local default; manifests set hmac


def test_hmac_ingest_needs_a_key_file() -> None:
    with pytest.raises(SettingsError, match="SHIPSTREAM_INGEST_KEYS_FILE"):
        from_env({"SHIPSTREAM_INGEST_AUTH": "hmac"})


def test_webhook_settings_are_checked_with_the_same_messages() -> None:
    with pytest.raises(SettingsError, match=r"SHIPSTREAM_INGEST_AUTH='basic': use one of"):
        from_env({"SHIPSTREAM_INGEST_AUTH": "basic"})
    with pytest.raises(SettingsError, match="RATE_BURST at least SHIPSTREAM_INGEST_MAX_RECORDS"):
        Settings(ingest_rate_burst=10, ingest_max_records=20)
    assert Settings(ingest_rate_per_s=0, ingest_rate_burst=10, ingest_max_records=20)
    with pytest.raises(SettingsError, match="SHIPSTREAM_INGEST_READ_TIMEOUT_S must be at least 1"):
        Settings(ingest_read_timeout_s=0)
    with pytest.raises(SettingsError, match="SHIPSTREAM_DELIVERY_TIMEOUT_S must be >= 1"):
        Settings(delivery_timeout_s=0)


def test_webhook_variables_are_described_with_their_defaults() -> None:
    text = describe()
    for name in (
        "SHIPSTREAM_INGEST_AUTH",
        "SHIPSTREAM_INGEST_KEYS_FILE",
        "SHIPSTREAM_DELIVERY_RETRY_BUDGET_S",
        "SHIPSTREAM_DELIVERY_CA_FILE",
    ):
        assert name in variables() and name in text
    assert Settings().delivery_attempts == 30 and Settings().delivery_retry_budget_s == 300


SECURE = {
    "SHIPSTREAM_SECURITY_PROTOCOL": "SASL_SSL",
    "SHIPSTREAM_SASL_USERNAME": "shipstream",
    "SHIPSTREAM_SASL_PASSWORD": "s3cret-kafka",
    "SHIPSTREAM_REGISTRY_URL": "https://registry:8444/apis/ccompat/v7",
    "SHIPSTREAM_REGISTRY_USERNAME": "reg",
    "SHIPSTREAM_REGISTRY_PASSWORD": "s3cret-registry",
}


def test_secrets_are_masked_when_printed() -> None:
    s = from_env(SECURE)
    for shown in (repr(s), str(s), s.model_dump_json()):
        assert "s3cret" not in shown
    assert s.sasl_password is not None and s.sasl_password.get_secret_value() == "s3cret-kafka"
    # the child-process environment carries them, so workers started from settings connect
    assert from_env(s.to_env()) == s


def test_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "kafka").write_text("from-a-file\n")
    env = {k: v for k, v in SECURE.items() if k != "SHIPSTREAM_SASL_PASSWORD"}
    env["SHIPSTREAM_SASL_PASSWORD_FILE"] = str(tmp_path / "kafka")
    s = from_env(env)
    assert s.sasl_password is not None
    assert s.sasl_password.get_secret_value() == "from-a-file"
    with pytest.raises(SettingsError, match="both SHIPSTREAM_SASL_PASSWORD and"):
        from_env({**SECURE, "SHIPSTREAM_SASL_PASSWORD_FILE": str(tmp_path / "kafka")})
    env.pop("SHIPSTREAM_REGISTRY_PASSWORD")
    with pytest.raises(SettingsError, match="SHIPSTREAM_REGISTRY_PASSWORD_FILE.*fix the path"):
        from_env({**env, "SHIPSTREAM_REGISTRY_PASSWORD_FILE": str(tmp_path / "missing")})


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"SHIPSTREAM_SECURITY_PROTOCOL": "PLAINTEXT"}, "SECURITY_PROTOCOL=SASL_SSL"),
        ({"SHIPSTREAM_SASL_PASSWORD": ""}, "needs SHIPSTREAM_SASL_USERNAME and"),
        ({"SHIPSTREAM_SSL_CERT_FILE": "/c.pem"}, "mTLS needs both"),
        ({"SHIPSTREAM_REGISTRY_URL": "http://registry:8081"}, "is not https"),
        ({"SHIPSTREAM_REGISTRY_URL": "https://u:p@registry:8444"}, "carries credentials"),
        ({"SHIPSTREAM_REGISTRY_USERNAME": ""}, "needs both SHIPSTREAM_REGISTRY_USERNAME"),
        ({"SHIPSTREAM_SASL_MECHANISM": "PLAIN"}, "SHIPSTREAM_SASL_MECHANISM"),
    ],
)
def test_half_configured_security_is_refused(change: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError, match=says) as info:
        from_env({**SECURE, **change})
    assert "s3cret" not in str(info.value)


def test_tls_files_without_tls_are_refused() -> None:
    with pytest.raises(SettingsError, match="does not use TLS"):
        from_env({"SHIPSTREAM_SSL_CA_FILE": "/ca.pem"})


def test_a_bad_secret_value_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        Settings(sasl_password=12345)  # type: ignore[arg-type]
    assert "12345" not in str(info.value)


def test_every_variable_is_documented() -> None:
    names = variables()
    assert "SHIPSTREAM_BROKER" in names and "SHIPSTREAM_SASL_PASSWORD_FILE" in names
    assert all(names.values())
    assert "SHIPSTREAM_SECURITY_PROTOCOL" in describe()


def test_redact_url() -> None:
    assert redact_url("https://u:pw@h:8444/x") == "https://***@h:8444/x"
    assert redact_url("https://h/x") == "https://h/x"


def test_a_password_in_a_bad_url_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        Settings(registry_url="https://u:pw-in-url@h/apis/ccompat/v7")
    assert "pw-in-url" not in str(info.value)
