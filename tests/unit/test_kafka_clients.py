from __future__ import annotations

from pathlib import Path

import certifi
import pytest
from faust.types.auth import AuthProtocol

from streams.codecs import registry
from streams.kafka import clients
from streams.settings import Settings, SettingsError

CA = Path(certifi.where())


def secure(**changes: object) -> Settings:
    values: dict[str, object] = {
        "broker": "k:9192",
        "security_protocol": "SASL_SSL",
        "sasl_username": "shipstream",
        "sasl_password": "pw",
        "ssl_ca_file": CA,
    }
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


def test_plaintext_is_said_explicitly() -> None:
    config = clients.librdkafka_config(Settings(broker="k:9092"))
    assert config == {"bootstrap.servers": "k:9092", "security.protocol": "plaintext"}
    assert clients.aiokafka_config(Settings())["security_protocol"] == "PLAINTEXT"
    assert clients.faust_credentials(Settings()) is None


def test_sasl_ssl_reaches_every_client_library() -> None:
    s = secure()
    rd = clients.librdkafka_config(s, **{"group.id": "g"})
    assert rd["security.protocol"] == "sasl_ssl"
    assert rd["sasl.mechanism"] == "SCRAM-SHA-512"
    assert (rd["sasl.username"], rd["sasl.password"]) == ("shipstream", "pw")
    assert rd["ssl.ca.location"] == str(CA) and rd["group.id"] == "g"
    aio = clients.aiokafka_config(s)
    assert aio["security_protocol"] == "SASL_SSL" and aio["sasl_mechanism"] == "SCRAM-SHA-512"
    assert aio["sasl_plain_password"] == "pw" and aio["ssl_context"] is not None
    creds = clients.faust_credentials(s)
    assert creds is not None and creds.protocol is AuthProtocol.SASL_SSL
    assert "pw" not in repr(creds)


def test_a_missing_ca_file_names_the_variable(tmp_path: Path) -> None:
    s = secure(ssl_ca_file=tmp_path / "nope.pem")
    for build in (clients.librdkafka_config, clients.aiokafka_config, clients.faust_credentials):
        with pytest.raises(SettingsError, match="SHIPSTREAM_SSL_CA_FILE"):
            build(s)


def test_registry_basic_auth_and_ca() -> None:
    s = Settings(
        registry_url="https://r:8444/apis/ccompat/v7",
        registry_username="u",
        registry_password="rpw",  # type: ignore[arg-type]
        registry_ca_file=CA,
    )
    config = registry.client_config(s)
    assert config["basic.auth.user.info"] == "u:rpw"
    assert config["ssl.ca.location"] == str(CA)
    options = registry.httpx_options(s)
    assert options["auth"] is not None and options["verify"] is not None
    assert registry.client_config(Settings()) == {"url": Settings().registry_url, "timeout": 10}
