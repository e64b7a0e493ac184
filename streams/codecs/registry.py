"""The schema registry through confluent-kafka's client, with shipstream's errors.

Apicurio Registry answers the Confluent API under ``/apis/ccompat/v7``; everything here
speaks only that API, so a Confluent Schema Registry works the same way.
"""

from __future__ import annotations

import json
import logging
import ssl
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streams.errors import RegistryError, RegistryUnavailable
from streams.settings import Settings, SettingsError, env_name
from streams.topics import AVRO_TOPICS, TopicSpec

log = logging.getLogger(__name__)


def client_config(settings: Settings) -> dict[str, Any]:
    """confluent-kafka's registry client config: URL, timeout, basic auth and CA."""
    config: dict[str, Any] = {"url": settings.registry_url, "timeout": 10}
    if settings.registry_username and settings.registry_password is not None:
        password = settings.registry_password.get_secret_value()
        config["basic.auth.user.info"] = f"{settings.registry_username}:{password}"
    if settings.registry_ca_file is not None:
        config["ssl.ca.location"] = _ca_file(settings)
    return config


def httpx_options(settings: Settings) -> dict[str, Any]:
    """``auth`` and ``verify`` for a plain httpx request to the registry (same as the client)."""
    options: dict[str, Any] = {}
    if settings.registry_username and settings.registry_password is not None:
        password = settings.registry_password.get_secret_value()
        options["auth"] = httpx.BasicAuth(settings.registry_username, password)
    if settings.registry_ca_file is not None:
        options["verify"] = ssl.create_default_context(cafile=_ca_file(settings))
    return options


def _ca_file(settings: Settings) -> str:
    path = settings.registry_ca_file
    if path is None or not path.is_file():
        msg = f"{env_name('registry_ca_file')}={str(path)!r} is not a readable file: fix the path"
        raise SettingsError(msg)
    return str(path)


def client(settings: Settings) -> SchemaRegistryClient:
    """A registry client for these settings."""
    return SchemaRegistryClient(client_config(settings))


def load_schema(path: Path) -> str:
    """The canonical JSON text of an .avsc file (whitespace-insensitive for the registry)."""
    return json.dumps(json.loads(path.read_text()), separators=(",", ":"))


#: Statuses that say nothing about the request itself: the registry may answer it later.
_AUTH_STATUSES = (401, 403)
_TRANSIENT_STATUSES = (408, 429)


def _call(what: str, settings: Settings, fn: Any, *args: Any) -> Any:
    """Call the client, translating its failures.

    A final answer raises ``RegistryError``; a failure that may pass raises
    ``RegistryUnavailable`` (a ``ServiceUnavailable``, which callers retry).
    """
    try:
        return fn(*args)
    except SchemaRegistryError as exc:
        status = exc.http_status_code
        detail = f"HTTP {status} {exc.error_message}"
        if status in _AUTH_STATUSES:
            msg = f"registry refused to {what}: {detail}; check the registry credentials"
            raise RegistryUnavailable(msg, "auth", status) from exc
        if status >= 500 or status in _TRANSIENT_STATUSES:
            msg = f"registry failed to {what}: {detail}; retrying"
            raise RegistryUnavailable(msg, "server_error", status) from exc
        msg = f"registry refused to {what}: {detail}"
        raise RegistryError(msg, status) from exc
    except httpx.TimeoutException as exc:
        msg = f"registry at {settings.registry_url} did not answer in time to {what} ({exc!r})"
        raise RegistryUnavailable(msg, "timeout") from exc
    except (httpx.TransportError, OSError) as exc:
        msg = (
            f"cannot reach the schema registry at {settings.registry_url} ({exc!r}); "
            "start it with `make up`"
        )
        raise RegistryUnavailable(msg, "connection") from exc
    except ValueError as exc:  # a 2xx whose body is not JSON: a proxy's page, not the registry
        msg = f"registry at {settings.registry_url} gave an unreadable answer to {what}: {exc}"
        raise RegistryUnavailable(msg, "bad_response") from exc


def register(settings: Settings, spec: TopicSpec, sr: SchemaRegistryClient | None = None) -> int:
    """Register the schema of a catalogue topic under ``<topic>-value``; returns its id.

    Registering an identical schema again returns the existing id, so this is idempotent.
    """
    sr = sr or client(settings)
    assert spec.schema_file is not None  # noqa: S101  # only Avro topics reach here
    schema = Schema(load_schema(spec.schema_file), "AVRO")
    subject = settings.topic(spec.name) + "-value"
    schema_id: int = _call(f"register {subject}", settings, sr.register_schema, subject, schema)
    log.info("registered %s as schema id %s", subject, schema_id)
    return schema_id


def register_all(settings: Settings) -> dict[str, int]:
    """Register every Avro topic's schema; returns subject -> id."""
    sr = client(settings)
    return {settings.topic(s.name) + "-value": register(settings, s, sr) for s in AVRO_TOPICS}


def set_compatibility(settings: Settings, subject: str, level: str = "BACKWARD") -> None:
    """Set a subject's compatibility level so breaking changes are refused."""
    sr = client(settings)
    _call(f"set compatibility of {subject}", settings, sr.set_compatibility, subject, level)


def writer_schema(settings: Settings, sr: SchemaRegistryClient, schema_id: int) -> str:
    """The schema text registered under an id."""
    schema = _call(f"fetch schema id {schema_id}", settings, sr.get_schema, schema_id)
    return str(schema.schema_str)
