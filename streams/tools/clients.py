"""The tools' Kafka and registry clients: quiet on the terminal, and checked before use."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streams.errors import ServiceUnavailable
from streams.settings import Settings

TIMEOUT = 10.0
CHECK_TIMEOUT = 5.0


def check_registry(settings: Settings) -> None:
    """Raise ServiceUnavailable, naming the URL, when the registry does not answer."""
    try:
        httpx.get(settings.registry_url + "/subjects", timeout=5)
    except httpx.TransportError as exc:
        msg = (
            f"cannot reach the schema registry at {settings.registry_url} ({exc}); "
            "start it with `make up`"
        )
        raise ServiceUnavailable(msg) from exc


def client_logger() -> logging.Logger:
    """Where librdkafka's own log goes: shown with ``-v`` only.

    Unrouted, a client facing a closed port writes a ``Connect … failed`` line to stderr every
    50 ms; the CLI says it once, in its error.
    """
    log = logging.getLogger("streams.tools.cli.librdkafka")
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        log.setLevel(logging.CRITICAL + 1)
    return log


def client_config(settings: Settings) -> dict[str, Any]:
    """Config every CLI client shares (pass to consumers, producers, the lag sampler)."""
    return {"bootstrap.servers": settings.broker, "logger": client_logger()}


def admin_client(settings: Settings) -> AdminClient:
    """An admin client that fails fast and keeps librdkafka's log off the terminal."""
    return AdminClient({**client_config(settings), "socket.timeout.ms": int(TIMEOUT * 1000)})


def check_broker(settings: Settings) -> AdminClient:
    """The admin client, once the broker answered; else ServiceUnavailable naming it."""
    client = admin_client(settings)
    try:
        client.list_topics(timeout=CHECK_TIMEOUT)
    except KafkaException as exc:
        msg = f"cannot reach Kafka at {settings.broker} ({exc}); start it with `make up`"
        raise ServiceUnavailable(msg) from exc
    return client
