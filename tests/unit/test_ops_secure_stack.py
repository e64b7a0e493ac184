"""The secure stack's templates (ops/lib/secure.sh renders them; make test runs the stack)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def properties(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key] = value
    return out


def test_kafka_has_no_plaintext_listener() -> None:
    p = properties(ROOT / "ops/kafka/server-secure.properties.template")
    listeners = p["listeners"].split(",")
    assert all(not item.startswith("PLAINTEXT://") for item in listeners)
    protocols = dict(pair.split(":") for pair in p["listener.security.protocol.map"].split(","))
    assert set(protocols.values()) == {"SASL_SSL", "SSL"}
    assert protocols[p["controller.listener.names"]] == "SSL"
    assert p["listener.name.controller.ssl.client.auth"] == "required"
    assert p["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert p["ssl.endpoint.identification.algorithm"] == "https"


def test_registry_journal_uses_sasl_ssl_for_every_client() -> None:
    p = properties(ROOT / "ops/registry/kafkasql-secure.properties.template")
    for client in ("producer", "consumer", "admin"):
        assert p[f"apicurio.kafkasql.{client}.security.protocol"] == "SASL_SSL"
        assert p[f"apicurio.kafkasql.{client}.sasl.mechanism"] == "SCRAM-SHA-512"


def test_registry_front_is_tls_with_basic_auth_on_loopback() -> None:
    conf = (ROOT / "ops/registry/nginx-front.conf.template").read_text()
    assert re.search(r"listen 127\.0\.0\.1:@REGISTRY_FRONT_PORT@ ssl;", conf)
    assert "auth_basic_user_file" in conf
    assert "proxy_pass http://127.0.0.1:@REGISTRY_PORT@;" in conf
    # the client's credentials are not passed on to Apicurio
    assert 'proxy_set_header Authorization "";' in conf
