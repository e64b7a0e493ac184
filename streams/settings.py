"""Settings: the only module that reads the environment.

Every component is built from a :class:`Settings` object so tests can build apps with their
own topics, ports and data dirs instead of patching globals.

Environment variables (all optional; defaults suit a single local node):

``SHIPSTREAM_ROLE``              ``all`` | ``ingestion`` | ``processing`` | ``decision`` |
                                 ``communication`` (default ``all``)
``SHIPSTREAM_BROKER``            Kafka bootstrap servers (default ``127.0.0.1:9092``)
``SHIPSTREAM_REGISTRY_URL``      Confluent-compatible registry base URL
                                 (default ``http://127.0.0.1:8081/apis/ccompat/v7``)
``SHIPSTREAM_APP_ID``            prefix of consumer groups and changelog topics
                                 (default ``shipstream``; the role is appended)
``SHIPSTREAM_TOPIC_PREFIX``      prefix for every topic name (default empty; tests set one)
``SHIPSTREAM_PARTITIONS``        partitions of the SPEC topics (default 12)
``SHIPSTREAM_REPLICATION``       replication factor (default 1)
``SHIPSTREAM_DATA_DIR``          RocksDB and worker data (default ``.local/data``)
``SHIPSTREAM_WEB_HOST``          host of the worker's web server (default ``127.0.0.1``)
``SHIPSTREAM_WEB_PORT``          port of the worker's web server (default 6066)
``SHIPSTREAM_INSTANCE_ID``       static membership id (default unset: dynamic membership)
``SHIPSTREAM_STANDBY_REPLICAS``  table standby replicas (default 1)
``SHIPSTREAM_MAX_BODY_BYTES``    largest accepted ``POST /ingest`` body (default 1 MiB)
``SHIPSTREAM_MAX_FUTURE_SKEW_S`` how far past the wall clock an event's ``occurred_at`` may be
                                 before it is rejected as ``future_timestamp`` (default 3600)
``SHIPSTREAM_ENDPOINT_URL``      base URL of the action endpoints (default
                                 ``http://127.0.0.1:8700``)
``SHIPSTREAM_DELIVERY_ATTEMPTS`` attempts per action before FAILED_EXHAUSTED (default 5)
``SHIPSTREAM_ENDPOINT_CONCURRENCY`` in-flight requests per endpoint (default 16)
``SHIPSTREAM_PROCESSING_GUARANTEE`` ``at_least_once`` (default) or ``exactly_once``
``SHIPSTREAM_MAX_WAITING_UPDATES`` updates of one shipment that may wait for an earlier one
                                 (its ARRIVED_HUB on the hub detour) before the decision role
                                 gives up on the missing one (default 1000)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

ROLES = ("ingestion", "processing", "decision", "communication")
GUARANTEES = ("at_least_once", "exactly_once")


class SettingsError(ValueError):
    """A setting has a value shipstream cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything a worker, the CLI or a test needs to know about its environment."""

    role: str = "all"
    broker: str = "127.0.0.1:9092"
    registry_url: str = "http://127.0.0.1:8081/apis/ccompat/v7"
    app_id: str = "shipstream"
    topic_prefix: str = ""
    partitions: int = 12
    replication: int = 1
    data_dir: Path = Path(".local/data")
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    instance_id: str | None = None
    standby_replicas: int = 1
    max_body_bytes: int = 1024 * 1024
    max_future_skew_s: int = 3600
    endpoint_url: str = "http://127.0.0.1:8700"
    delivery_attempts: int = 5
    endpoint_concurrency: int = 16
    processing_guarantee: str = "at_least_once"
    max_waiting_updates: int = 1000
    endpoint_paths: Mapping[str, str] = field(
        default_factory=lambda: {
            "EXPEDITE": "/carrier/expedite",
            "REROUTE": "/carrier/reroute",
            "HOLD": "/dispatch/hold",
            "NOTIFY_CUSTOMER": "/notify/customer",
            "ESCALATE": "/dispatch/escalate",
            "CLOSE": "/dispatch/close",
        }
    )

    def __post_init__(self) -> None:
        if self.role != "all" and self.role not in ROLES:
            msg = f"SHIPSTREAM_ROLE={self.role!r} is not a role; use all or one of {ROLES}"
            raise SettingsError(msg)
        if self.processing_guarantee not in GUARANTEES:
            msg = (
                f"SHIPSTREAM_PROCESSING_GUARANTEE={self.processing_guarantee!r}: "
                f"use one of {GUARANTEES}"
            )
            raise SettingsError(msg)
        if self.max_future_skew_s < 0:
            msg = f"SHIPSTREAM_MAX_FUTURE_SKEW_S={self.max_future_skew_s} must be 0 or more"
            raise SettingsError(msg)
        if self.partitions < 1 or self.replication < 1:
            msg = "SHIPSTREAM_PARTITIONS and SHIPSTREAM_REPLICATION must be at least 1"
            raise SettingsError(msg)

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles this worker runs."""
        return ROLES if self.role == "all" else (self.role,)

    @property
    def group_id(self) -> str:
        """Faust app id, which is also the consumer group: one per role."""
        return f"{self.app_id}-{self.role}"

    @property
    def max_future_skew_ms(self) -> int:
        """``max_future_skew_s`` in the milliseconds event times are kept in."""
        return self.max_future_skew_s * 1000

    @property
    def broker_url(self) -> str:
        """Broker list in faust's URL form."""
        return ";".join(f"kafka://{b.strip()}" for b in self.broker.split(","))

    def topic(self, name: str) -> str:
        """The concrete name of a catalogue topic (prefixed in tests)."""
        return f"{self.topic_prefix}{name}"

    def to_env(self) -> dict[str, str]:
        """Environment variables that make ``from_env`` rebuild these settings."""
        env = {
            "SHIPSTREAM_ROLE": self.role,
            "SHIPSTREAM_BROKER": self.broker,
            "SHIPSTREAM_REGISTRY_URL": self.registry_url,
            "SHIPSTREAM_APP_ID": self.app_id,
            "SHIPSTREAM_TOPIC_PREFIX": self.topic_prefix,
            "SHIPSTREAM_PARTITIONS": str(self.partitions),
            "SHIPSTREAM_REPLICATION": str(self.replication),
            "SHIPSTREAM_DATA_DIR": str(self.data_dir),
            "SHIPSTREAM_WEB_HOST": self.web_host,
            "SHIPSTREAM_WEB_PORT": str(self.web_port),
            "SHIPSTREAM_STANDBY_REPLICAS": str(self.standby_replicas),
            "SHIPSTREAM_MAX_BODY_BYTES": str(self.max_body_bytes),
            "SHIPSTREAM_MAX_FUTURE_SKEW_S": str(self.max_future_skew_s),
            "SHIPSTREAM_ENDPOINT_URL": self.endpoint_url,
            "SHIPSTREAM_DELIVERY_ATTEMPTS": str(self.delivery_attempts),
            "SHIPSTREAM_ENDPOINT_CONCURRENCY": str(self.endpoint_concurrency),
            "SHIPSTREAM_PROCESSING_GUARANTEE": self.processing_guarantee,
            "SHIPSTREAM_MAX_WAITING_UPDATES": str(self.max_waiting_updates),
        }
        if self.instance_id:
            env["SHIPSTREAM_INSTANCE_ID"] = self.instance_id
        return env

    def with_(self, **changes: object) -> Settings:
        """A copy with some settings changed."""
        return replace(self, **changes)  # type: ignore[arg-type]  # dataclass kwargs are dynamic


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        msg = f"{name}={raw!r} is not an integer"
        raise SettingsError(msg) from None


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from environment variables (see the module docstring)."""
    e = os.environ if env is None else env
    d = Settings()
    return Settings(
        role=e.get("SHIPSTREAM_ROLE", d.role),
        broker=e.get("SHIPSTREAM_BROKER", d.broker),
        registry_url=e.get("SHIPSTREAM_REGISTRY_URL", d.registry_url).rstrip("/"),
        app_id=e.get("SHIPSTREAM_APP_ID", d.app_id),
        topic_prefix=e.get("SHIPSTREAM_TOPIC_PREFIX", d.topic_prefix),
        partitions=_int(e, "SHIPSTREAM_PARTITIONS", d.partitions),
        replication=_int(e, "SHIPSTREAM_REPLICATION", d.replication),
        data_dir=Path(e.get("SHIPSTREAM_DATA_DIR", str(d.data_dir))),
        web_host=e.get("SHIPSTREAM_WEB_HOST", d.web_host),
        web_port=_int(e, "SHIPSTREAM_WEB_PORT", d.web_port),
        instance_id=e.get("SHIPSTREAM_INSTANCE_ID") or None,
        standby_replicas=_int(e, "SHIPSTREAM_STANDBY_REPLICAS", d.standby_replicas),
        max_body_bytes=_int(e, "SHIPSTREAM_MAX_BODY_BYTES", d.max_body_bytes),
        max_future_skew_s=_int(e, "SHIPSTREAM_MAX_FUTURE_SKEW_S", d.max_future_skew_s),
        endpoint_url=e.get("SHIPSTREAM_ENDPOINT_URL", d.endpoint_url).rstrip("/"),
        delivery_attempts=_int(e, "SHIPSTREAM_DELIVERY_ATTEMPTS", d.delivery_attempts),
        endpoint_concurrency=_int(e, "SHIPSTREAM_ENDPOINT_CONCURRENCY", d.endpoint_concurrency),
        processing_guarantee=e.get("SHIPSTREAM_PROCESSING_GUARANTEE", d.processing_guarantee),
        max_waiting_updates=_int(e, "SHIPSTREAM_MAX_WAITING_UPDATES", d.max_waiting_updates),
    )
