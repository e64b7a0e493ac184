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
``SHIPSTREAM_DELIVERY_ATTEMPTS`` attempts per action before FAILED_EXHAUSTED (default 30; the
                                 retry budget, SHIPSTREAM_DELIVERY_RETRY_BUDGET_S, ends it sooner)
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
    delivery_attempts: int = 30
    endpoint_concurrency: int = 16
    processing_guarantee: str = "at_least_once"
    max_waiting_updates: int = 1000
    webhooks: WebhookSettings = field(default_factory=lambda: WebhookSettings())  # issue 12
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
        env.update(self.webhooks.to_env())  # issue 12
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


# --- Webhooks in and out (issue 12) ---------------------------------------------------------
# One block so that it merges by hand into a reworked settings module: the class, its defaults,
# its checks and its environment variables. Secrets are never values here, only file paths.
#
# ``SHIPSTREAM_INGEST_AUTH``            ``hmac`` (every ``POST /ingest`` must be signed, see
#                                       streams.signing) or ``none`` (unsigned, local dev only;
#                                       the worker logs a warning at start). Default ``none``;
#                                       the Kubernetes base sets ``hmac``.
# ``SHIPSTREAM_INGEST_KEYS_FILE``       JSON key file carrier -> [secrets] (required by hmac)
# ``SHIPSTREAM_INGEST_SIGNATURE_TOLERANCE_S`` replay window of a signature's timestamp (300)
# ``SHIPSTREAM_INGEST_RATE_PER_S``      records per second per carrier, per worker (2000;
#                                       0 turns the limit off)
# ``SHIPSTREAM_INGEST_RATE_BURST``      records a carrier may send at once (5000; at least
#                                       SHIPSTREAM_INGEST_MAX_RECORDS)
# ``SHIPSTREAM_INGEST_MAX_RECORDS``     records per body, more is a 413 (1000)
# ``SHIPSTREAM_INGEST_MAX_IN_FLIGHT``   ``POST /ingest`` requests handled at once; more get a
#                                       503 with Retry-After (32)
# ``SHIPSTREAM_INGEST_READ_TIMEOUT_S``  time to receive a whole body, else 408 (10)
# ``SHIPSTREAM_DELIVERY_KEYS_FILE``     JSON key file endpoint path (or ``*``) -> [secrets];
#                                       unset: deliveries are not signed
# ``SHIPSTREAM_DELIVERY_CA_FILE``       PEM bundle that https endpoints are verified against
#                                       (default: the system's)
# ``SHIPSTREAM_DELIVERY_RETRY_BUDGET_S`` how long one decision's delivery keeps retrying before
#                                       FAILED_EXHAUSTED (300; at least 1)
# ``SHIPSTREAM_DELIVERY_BACKOFF_CAP_S`` longest wait between two attempts (30)
# ``SHIPSTREAM_DELIVERY_TIMEOUT_S``     one request's timeout (10)
INGEST_AUTH_MODES = ("hmac", "none")


@dataclass(frozen=True)
class WebhookSettings:
    """Authentication and limits of ``POST /ingest``; signing and retries of deliveries."""

    ingest_auth: str = "none"
    ingest_keys_file: Path | None = None
    ingest_signature_tolerance_s: int = 300
    ingest_rate_per_s: int = 2000
    ingest_rate_burst: int = 5000
    ingest_max_records: int = 1000
    ingest_max_in_flight: int = 32
    ingest_read_timeout_s: int = 10
    delivery_keys_file: Path | None = None
    delivery_ca_file: Path | None = None
    delivery_retry_budget_s: int = 300
    delivery_backoff_cap_s: int = 30
    delivery_timeout_s: int = 10

    def __post_init__(self) -> None:
        if self.ingest_auth not in INGEST_AUTH_MODES:
            msg = f"SHIPSTREAM_INGEST_AUTH={self.ingest_auth!r}: use one of {INGEST_AUTH_MODES}"
            raise SettingsError(msg)
        if self.ingest_auth == "hmac" and self.ingest_keys_file is None:
            msg = (
                "SHIPSTREAM_INGEST_AUTH=hmac needs SHIPSTREAM_INGEST_KEYS_FILE (a JSON file "
                "carrier -> [secrets]); for unsigned local runs set SHIPSTREAM_INGEST_AUTH=none"
            )
            raise SettingsError(msg)
        if self.ingest_max_records < 1 or self.ingest_max_in_flight < 1:
            msg = "SHIPSTREAM_INGEST_MAX_RECORDS and SHIPSTREAM_INGEST_MAX_IN_FLIGHT must be >= 1"
            raise SettingsError(msg)
        if self.ingest_rate_per_s < 0 or (
            self.ingest_rate_per_s and self.ingest_rate_burst < self.ingest_max_records
        ):
            msg = (
                "SHIPSTREAM_INGEST_RATE_PER_S must be 0 (off) or more, and "
                "SHIPSTREAM_INGEST_RATE_BURST at least SHIPSTREAM_INGEST_MAX_RECORDS "
                "(else a full body could never pass)"
            )
            raise SettingsError(msg)
        if self.delivery_retry_budget_s < 1:
            msg = "SHIPSTREAM_DELIVERY_RETRY_BUDGET_S must be at least 1 (seconds)"
            raise SettingsError(msg)
        for name in ("ingest_signature_tolerance_s", "ingest_read_timeout_s"):
            if getattr(self, name) < 1:
                msg = f"SHIPSTREAM_{name.upper()} must be at least 1"
                raise SettingsError(msg)
        if self.delivery_backoff_cap_s < 1 or self.delivery_timeout_s < 1:
            msg = "SHIPSTREAM_DELIVERY_BACKOFF_CAP_S and SHIPSTREAM_DELIVERY_TIMEOUT_S must be >= 1"
            raise SettingsError(msg)

    def to_env(self) -> dict[str, str]:
        """The variables that rebuild these settings (paths only, never a secret)."""
        return {
            f"SHIPSTREAM_{name.upper()}": str(getattr(self, name))
            for name in self.__dataclass_fields__
            if getattr(self, name) is not None
        }


def webhook_settings_from_env(e: Mapping[str, str]) -> WebhookSettings:
    """Read the block's variables (see the comment above ``INGEST_AUTH_MODES``)."""
    d = WebhookSettings()

    def path(name: str) -> Path | None:
        raw = e.get(name, "")
        return Path(raw) if raw else None

    return WebhookSettings(
        ingest_auth=e.get("SHIPSTREAM_INGEST_AUTH", d.ingest_auth) or d.ingest_auth,
        ingest_keys_file=path("SHIPSTREAM_INGEST_KEYS_FILE"),
        **{
            name: _int(e, f"SHIPSTREAM_{name.upper()}", getattr(d, name))
            for name in (
                "ingest_signature_tolerance_s",
                "ingest_rate_per_s",
                "ingest_rate_burst",
                "ingest_max_records",
                "ingest_max_in_flight",
                "ingest_read_timeout_s",
                "delivery_retry_budget_s",
                "delivery_backoff_cap_s",
                "delivery_timeout_s",
            )
        },
        delivery_keys_file=path("SHIPSTREAM_DELIVERY_KEYS_FILE"),
        delivery_ca_file=path("SHIPSTREAM_DELIVERY_CA_FILE"),
    )


# --- end of the webhooks block ----------------------------------------------------------------


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
        webhooks=webhook_settings_from_env(e),  # issue 12
    )
