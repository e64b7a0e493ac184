"""The tools' Kafka and registry clients: quiet on the terminal, and checked before use.

Connection and security come from :mod:`streams.kafka.clients` (and the registry's auth from
:mod:`streams.codecs.registry`), as for the workers.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from confluent_kafka.admin import AdminClient

from streams.codecs import registry
from streams.errors import ServiceUnavailable
from streams.kafka import clients
from streams.settings import Settings

TIMEOUT = 10.0
CHECK_TIMEOUT = 5.0


def check_registry(settings: Settings) -> None:
    """Raise ServiceUnavailable, naming the URL, when the registry does not answer."""
    try:
        httpx.get(
            settings.registry_url + "/subjects", timeout=5, **registry.httpx_options(settings)
        )
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
    return clients.librdkafka_config(settings, logger=client_logger())


def admin_client(settings: Settings) -> AdminClient:
    """The one admin-client factory (streams.kafka.clients), librdkafka's log off the terminal."""
    return clients.admin_client(settings, TIMEOUT, logger=client_logger())


def check_broker(settings: Settings) -> AdminClient:
    """:func:`streams.kafka.clients.check_broker`, librdkafka's log off the terminal."""
    return clients.check_broker(settings, CHECK_TIMEOUT, logger=client_logger())
