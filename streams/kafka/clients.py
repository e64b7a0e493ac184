"""Every Kafka client's connection and security config, from one :class:`Settings`.

The one place that turns ``SHIPSTREAM_SECURITY_PROTOCOL``, the SASL credentials and the TLS
files into what each client library wants: librdkafka properties (confluent-kafka producers,
consumers, admin clients, the lag sampler's child process, the CLI and the ops tools), aiokafka
keyword arguments (the consumers of ``decision/sent.py`` and ``tables/hubs.py``) and faust's
``broker_credentials`` (the workers). Nothing else builds a ``bootstrap.servers`` config, so a
worker given credentials can never connect in plaintext by forgetting one client.

Settings already refuse a half-configured combination; here the files are checked to exist,
when a client is built, with the variable to fix in the message.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from aiokafka.helpers import create_ssl_context
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from faust.auth import SASLCredentials, SSLCredentials
from faust.types.auth import CredentialsT

from streams.errors import ServiceUnavailable
from streams.settings import Settings, SettingsError, env_name


def _existing(settings: Settings, field: str) -> str | None:
    path: Path | None = getattr(settings, field)
    if path is None:
        return None
    if not path.is_file():
        msg = f"{env_name(field)}={str(path)!r} is not a readable file: fix the path"
        raise SettingsError(msg)
    return str(path)


def _secret(settings: Settings, field: str) -> str | None:
    value = getattr(settings, field)
    return None if value is None else str(value.get_secret_value())


def librdkafka_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """``bootstrap.servers`` and security properties for confluent-kafka, plus ``overrides``."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.broker,
        "security.protocol": settings.security_protocol.lower(),
    }
    if settings.kafka_uses_sasl:
        config["sasl.mechanism"] = settings.sasl_mechanism
        config["sasl.username"] = settings.sasl_username
        config["sasl.password"] = _secret(settings, "sasl_password")
    if settings.kafka_uses_tls:
        ca = _existing(settings, "ssl_ca_file")
        if ca:
            config["ssl.ca.location"] = ca
        cert = _existing(settings, "ssl_cert_file")
        if cert:
            config["ssl.certificate.location"] = cert
            config["ssl.key.location"] = _existing(settings, "ssl_key_file")
            if settings.ssl_key_password is not None:
                config["ssl.key.password"] = _secret(settings, "ssl_key_password")
    config.update(overrides)
    return config


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of the Python clients (None when the protocol has no TLS)."""
    if not settings.kafka_uses_tls:
        return None
    return create_ssl_context(
        cafile=_existing(settings, "ssl_ca_file"),
        certfile=_existing(settings, "ssl_cert_file"),
        keyfile=_existing(settings, "ssl_key_file"),
        password=_secret(settings, "ssl_key_password"),
    )


def aiokafka_config(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaConsumer``/``AIOKafkaProducer``: servers and security."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.broker,
        "security_protocol": settings.security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        config["ssl_context"] = context
    if settings.kafka_uses_sasl:
        config["sasl_mechanism"] = settings.sasl_mechanism
        config["sasl_plain_username"] = settings.sasl_username
        config["sasl_plain_password"] = _secret(settings, "sasl_password")
    return config


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """Faust's ``broker_credentials``: SASL (over TLS for SASL_SSL), TLS alone, or none."""
    context = ssl_context(settings)
    if settings.kafka_uses_sasl:
        return SASLCredentials(
            username=settings.sasl_username,
            password=_secret(settings, "sasl_password"),
            ssl_context=context,  # None gives SASL_PLAINTEXT, a context SASL_SSL
            mechanism=settings.sasl_mechanism,
        )
    if context is not None:
        return SSLCredentials(context)
    return None


def admin_client(settings: Settings, timeout: float = 10.0, **overrides: Any) -> AdminClient:
    """An admin client that fails fast when the broker is down."""
    config = librdkafka_config(settings, **{"socket.timeout.ms": int(timeout * 1000)})
    config.update(overrides)
    return AdminClient(config)


def check_broker(settings: Settings, timeout: float = 10.0, **overrides: Any) -> AdminClient:
    """The admin client, once the broker answered; else ServiceUnavailable saying what to do.

    librdkafka reports a refused login or certificate only to its error callback (the call
    itself just times out), so the callback's errors are kept to say which it was.
    """
    errors: list[KafkaError] = []
    overrides.setdefault("error_cb", errors.append)
    client = admin_client(settings, timeout, **overrides)
    try:
        client.list_topics(timeout=timeout)
    except KafkaException as exc:
        client.poll(0.5)  # serves the error callback
        raise ServiceUnavailable(_unreachable(settings, exc, errors)) from exc
    return client


def _unreachable(settings: Settings, exc: KafkaException, errors: list[KafkaError]) -> str:
    where = f"Kafka at {settings.broker} over {settings.security_protocol}"
    auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]  # noqa: SLF001
    ssl_errors = [e for e in errors if e.code() == KafkaError._SSL]  # noqa: SLF001
    if auth:
        return (
            f"{where} refused the login of {env_name('sasl_username')}="
            f"{settings.sasl_username!r} ({auth[-1].str()}); check the user and "
            f"{env_name('sasl_password')} (or its _FILE) and {env_name('sasl_mechanism')}"
        )
    if ssl_errors:
        return (
            f"TLS with {where} failed ({ssl_errors[-1].str()}); check "
            f"{env_name('ssl_ca_file')} (the CA that signed the broker's certificate)"
        )
    hint = ""
    if not settings.kafka_uses_tls and errors:
        hint = (
            f"; a TLS or SASL listener closes {settings.security_protocol} connections: is "
            f"{env_name('security_protocol')} the listener's?"
        )
    return (
        f"cannot reach {where} ({exc}){hint}; start it with `make up` (`make up SECURE=1` for "
        f"SASL_SSL), or check {env_name('security_protocol')} and {env_name('broker')}"
    )
