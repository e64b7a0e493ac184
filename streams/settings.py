"""Settings: the only module that reads the environment.

Every component is built from a :class:`Settings` object so tests can build apps with their
own topics, ports and data dirs instead of patching globals. Each setting is declared once,
below, as a field; its environment variable is ``SHIPSTREAM_`` + the field name in capitals
(``broker`` → ``SHIPSTREAM_BROKER``), and :func:`describe` lists them all with their defaults
and descriptions. Secrets (``SecretStr`` fields) are masked
when settings are printed, and each can also be given as a file: ``SHIPSTREAM_SASL_PASSWORD_FILE``
names a file whose content is the password (a mounted Kubernetes or compose secret). The
webhook keys are not settings values at all: only the paths of their key files are.

Building ``Settings(...)`` directly reads nothing from the environment; :func:`from_env` does.
An invalid or half-configured combination raises :class:`SettingsError` naming the variables
and what to set, before any client is built.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ROLES = ("ingestion", "processing", "decision", "communication")
GUARANTEES = ("at_least_once", "exactly_once")
ENV_PREFIX = "SHIPSTREAM_"
FILE_SUFFIX = "_FILE"

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256"]
INGEST_AUTH_MODES = ("hmac", "none")


class SettingsError(ValueError):
    """A setting has a value shipstream cannot use."""


def env_name(field: str) -> str:
    """The environment variable of a settings field (``broker`` → ``SHIPSTREAM_BROKER``)."""
    return ENV_PREFIX + field.upper()


class Settings(BaseSettings):
    """Everything a worker, the CLI or a test needs to know about its environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", env_ignore_empty=True
    )

    # --- what this worker is ------------------------------------------------------------------
    role: str = Field("all", description="all | ingestion | processing | decision | communication")
    app_id: str = Field(
        "shipstream",
        description="prefix of consumer groups and changelog topics (the role is appended)",
    )
    instance_id: str | None = Field(
        None, description="static membership id (unset: dynamic membership)"
    )
    data_dir: Path = Field(Path(".local/data"), description="RocksDB and worker data")
    web_host: str = Field("127.0.0.1", description="host of the worker's web server")
    web_port: int = Field(6066, description="port of the worker's web server")
    processing_guarantee: str = Field("at_least_once", description="at_least_once | exactly_once")
    standby_replicas: int = Field(1, description="table standby replicas")

    # --- topics -------------------------------------------------------------------------------
    topic_prefix: str = Field("", description="prefix for every topic name (tests set one)")
    partitions: int = Field(12, description="partitions of the SPEC topics")
    replication: int = Field(1, description="replication factor")

    # --- Kafka connection and security ---------------------------------------------------------
    broker: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated")
    security_protocol: SecurityProtocol = Field(
        "PLAINTEXT",
        description="PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL (prod: SASL_SSL)",
    )
    sasl_mechanism: SaslMechanism = Field(
        "SCRAM-SHA-512", description="SCRAM-SHA-512 | SCRAM-SHA-256 (SASL_* protocols)"
    )
    sasl_username: str | None = Field(None, description="SASL user (SASL_* protocols)")
    sasl_password: SecretStr | None = Field(None, description="SASL password (secret)")
    ssl_ca_file: Path | None = Field(
        None, description="PEM CA bundle the broker's certificate must chain to (default: system)"
    )
    ssl_cert_file: Path | None = Field(None, description="PEM client certificate (mTLS)")
    ssl_key_file: Path | None = Field(None, description="PEM private key of ssl_cert_file (mTLS)")
    ssl_key_password: SecretStr | None = Field(
        None, description="password of ssl_key_file, when encrypted (secret)"
    )

    # --- schema registry ----------------------------------------------------------------------
    registry_url: str = Field(
        "http://127.0.0.1:8081/apis/ccompat/v7",
        description="Confluent-compatible registry base URL (no credentials in it)",
    )
    registry_username: str | None = Field(None, description="registry basic-auth user")
    registry_password: SecretStr | None = Field(
        None, description="registry basic-auth password (secret)"
    )
    registry_ca_file: Path | None = Field(
        None, description="PEM CA bundle for an https registry (default: system)"
    )

    # --- ingestion ----------------------------------------------------------------------------
    max_body_bytes: int = Field(1024 * 1024, description="largest accepted POST /ingest body")
    max_future_skew_s: int = Field(
        3600,
        description="how far past the wall clock an event's occurred_at may be before it is "
        "rejected as future_timestamp",
    )

    # --- decision -----------------------------------------------------------------------------
    max_waiting_updates: int = Field(
        1000,
        description="updates of one shipment that may wait for an earlier one (its ARRIVED_HUB "
        "on the hub detour) before the decision role gives up on the missing one",
    )

    # --- delivery (communication) -------------------------------------------------------------
    endpoint_url: str = Field("http://127.0.0.1:8700", description="base URL of the endpoints")
    delivery_attempts: int = Field(
        30,
        description="attempts per action before FAILED_EXHAUSTED (the retry budget, "
        "SHIPSTREAM_DELIVERY_RETRY_BUDGET_S, ends it sooner)",
    )
    endpoint_concurrency: int = Field(16, description="in-flight requests per endpoint")
    endpoint_paths: dict[str, str] = Field(
        default_factory=lambda: {
            "EXPEDITE": "/carrier/expedite",
            "REROUTE": "/carrier/reroute",
            "HOLD": "/dispatch/hold",
            "NOTIFY_CUSTOMER": "/notify/customer",
            "ESCALATE": "/dispatch/escalate",
            "CLOSE": "/dispatch/close",
        },
        description="path per action under endpoint_url (JSON object)",
    )

    # --- webhooks in and out (issue 12; README "Webhooks in and out") -------------------------
    # Who may POST /ingest and how much, and how deliveries are signed and retried. The keys are
    # never values here, only the paths of their JSON key files (streams.signing reads them).
    ingest_auth: str = Field(
        "none",
        description="hmac (every POST /ingest must be signed, see streams.signing) or none "
        "(unsigned, local dev only; the worker logs a warning at start); the Kubernetes base "
        "sets hmac",
    )
    ingest_keys_file: Path | None = Field(
        None, description="JSON key file carrier -> [secrets] (required by hmac)"
    )
    ingest_signature_tolerance_s: int = Field(
        300, description="replay window of a signature's timestamp, either way (at least 1)"
    )
    ingest_rate_per_s: int = Field(
        2000, description="records per second per carrier, per worker (0 turns the limit off)"
    )
    ingest_rate_burst: int = Field(
        5000,
        description="records a carrier may send at once (at least SHIPSTREAM_INGEST_MAX_RECORDS)",
    )
    ingest_max_records: int = Field(1000, description="records per body, more is a 413")
    ingest_max_in_flight: int = Field(
        32, description="POST /ingest requests handled at once; more get a 503 with Retry-After"
    )
    ingest_read_timeout_s: int = Field(10, description="time to receive a whole body, else 408")
    delivery_keys_file: Path | None = Field(
        None,
        description="JSON key file endpoint path (or *) -> [secrets]; unset: deliveries are "
        "not signed",
    )
    delivery_ca_file: Path | None = Field(
        None, description="PEM bundle that https endpoints are verified against (default: system)"
    )
    delivery_retry_budget_s: int = Field(
        300,
        description="how long one decision's delivery keeps retrying before FAILED_EXHAUSTED "
        "(at least 1)",
    )
    delivery_backoff_cap_s: int = Field(30, description="longest wait between two attempts")
    delivery_timeout_s: int = Field(10, description="one delivery request's timeout")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(_explain(exc)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the arguments: the environment is read by :func:`from_env`, explicitly."""
        return (init_settings,)

    # --- checks (each message names the variable and what to do) ------------------------------
    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value != "all" and value not in ROLES:
            msg = f"{value!r} is not a role; use all or one of {ROLES}"
            raise ValueError(msg)
        return value

    @field_validator("processing_guarantee")
    @classmethod
    def _known_guarantee(cls, value: str) -> str:
        if value not in GUARANTEES:
            msg = f"{value!r}: use one of {GUARANTEES}"
            raise ValueError(msg)
        return value

    @field_validator("ingest_auth")
    @classmethod
    def _known_ingest_auth(cls, value: str) -> str:
        if value not in INGEST_AUTH_MODES:
            msg = f"use one of {INGEST_AUTH_MODES}"
            raise ValueError(msg)
        return value

    @field_validator("max_future_skew_s")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            msg = f"{value} must be 0 or more"
            raise ValueError(msg)
        return value

    @field_validator("partitions", "replication")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            msg = f"{value} must be at least 1"
            raise ValueError(msg)
        return value

    @field_validator("registry_url", "endpoint_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _is_whole(self) -> Settings:
        problems = security_problems(self) + webhook_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # --- derived values -----------------------------------------------------------------------
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

    @property
    def kafka_uses_sasl(self) -> bool:
        """SASL authentication is on (SASL_PLAINTEXT or SASL_SSL)."""
        return self.security_protocol.startswith("SASL_")

    @property
    def kafka_uses_tls(self) -> bool:
        """The broker connection is encrypted (SSL or SASL_SSL)."""
        return self.security_protocol in ("SSL", "SASL_SSL")

    def topic(self, name: str) -> str:
        """The concrete name of a catalogue topic (prefixed in tests)."""
        return f"{self.topic_prefix}{name}"

    def to_env(self) -> dict[str, str]:
        """Environment variables that make ``from_env`` rebuild these settings.

        Secrets are included in clear: this is for a child process's environment, never for
        printing (print the settings themselves, which mask them).
        """
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, Mapping):
                value = json.dumps(dict(value), sort_keys=True)
            env[env_name(name)] = str(value)
        return env

    def with_(self, **changes: object) -> Settings:
        """A copy with some settings changed (validated again)."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        values.update(changes)
        return type(self)(**values)


def security_problems(s: Settings) -> list[str]:
    """What is half-configured in the Kafka and registry security settings, with the fix."""
    problems: list[str] = []
    proto = env_name("security_protocol")
    if not s.kafka_uses_sasl and (s.sasl_username or s.sasl_password):
        problems.append(
            f"{env_name('sasl_username')}/{env_name('sasl_password')} are set but "
            f"{proto}={s.security_protocol} would connect without them: set {proto}=SASL_SSL "
            "(or unset the credentials)"
        )
    if s.kafka_uses_sasl and not (s.sasl_username and s.sasl_password):
        problems.append(
            f"{proto}={s.security_protocol} needs {env_name('sasl_username')} and "
            f"{env_name('sasl_password')} (or {env_name('sasl_password')}{FILE_SUFFIX})"
        )
    tls_files = ("ssl_ca_file", "ssl_cert_file", "ssl_key_file", "ssl_key_password")
    if not s.kafka_uses_tls and any(getattr(s, f) for f in tls_files):
        problems.append(
            f"TLS files are set but {proto}={s.security_protocol} does not use TLS: set "
            f"{proto}=SASL_SSL (or SSL)"
        )
    if bool(s.ssl_cert_file) != bool(s.ssl_key_file):
        problems.append(
            f"mTLS needs both {env_name('ssl_cert_file')} and {env_name('ssl_key_file')}"
        )
    reg = urlsplit(s.registry_url)
    if reg.username or reg.password:
        problems.append(
            f"{env_name('registry_url')} carries credentials: move them to "
            f"{env_name('registry_username')} and {env_name('registry_password')}"
        )
    if bool(s.registry_username) != bool(s.registry_password):
        problems.append(
            f"registry basic auth needs both {env_name('registry_username')} and "
            f"{env_name('registry_password')}"
        )
    if reg.scheme != "https" and (s.registry_username or s.registry_ca_file):
        problems.append(
            f"registry credentials or CA are set but {env_name('registry_url')} is not https: "
            "use the registry's https URL"
        )
    return problems


def webhook_problems(s: Settings) -> list[str]:
    """What is inconsistent in the webhook settings (``POST /ingest`` and deliveries)."""
    problems: list[str] = []
    if s.ingest_auth == "hmac" and s.ingest_keys_file is None:
        problems.append(
            "SHIPSTREAM_INGEST_AUTH=hmac needs SHIPSTREAM_INGEST_KEYS_FILE (a JSON file "
            "carrier -> [secrets]); for unsigned local runs set SHIPSTREAM_INGEST_AUTH=none"
        )
    if s.ingest_max_records < 1 or s.ingest_max_in_flight < 1:
        problems.append(
            "SHIPSTREAM_INGEST_MAX_RECORDS and SHIPSTREAM_INGEST_MAX_IN_FLIGHT must be >= 1"
        )
    if s.ingest_rate_per_s < 0 or (
        s.ingest_rate_per_s and s.ingest_rate_burst < s.ingest_max_records
    ):
        problems.append(
            "SHIPSTREAM_INGEST_RATE_PER_S must be 0 (off) or more, and "
            "SHIPSTREAM_INGEST_RATE_BURST at least SHIPSTREAM_INGEST_MAX_RECORDS "
            "(else a full body could never pass)"
        )
    if s.delivery_retry_budget_s < 1:
        problems.append("SHIPSTREAM_DELIVERY_RETRY_BUDGET_S must be at least 1 (seconds)")
    for name in ("ingest_signature_tolerance_s", "ingest_read_timeout_s"):
        if getattr(s, name) < 1:
            problems.append(f"{env_name(name)} must be at least 1")
    if s.delivery_backoff_cap_s < 1 or s.delivery_timeout_s < 1:
        problems.append(
            "SHIPSTREAM_DELIVERY_BACKOFF_CAP_S and SHIPSTREAM_DELIVERY_TIMEOUT_S must be >= 1"
        )
    return problems


def redact_url(url: str) -> str:
    """``url`` with any user and password replaced, for logs and errors."""
    parts = urlsplit(url)
    if not (parts.username or parts.password):
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return parts._replace(netloc=f"***@{host}").geturl()


def _explain(exc: ValidationError) -> str:
    """One line per bad value, naming its environment variable."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"] if isinstance(p, str)]
        msg = err["msg"].removeprefix("Value error, ")
        if loc:
            value = err.get("input")
            if loc[0] in _secret_fields():
                shown = "***"
            elif isinstance(value, str):
                shown = repr(redact_url(value))  # a URL may carry a password
            else:
                shown = repr(value)
            lines.append(f"{env_name(loc[0])}={shown}: {msg}")
        else:
            lines.append(msg)
    return "; ".join(lines)


def _secret_fields() -> set[str]:
    return {
        name
        for name, f in Settings.model_fields.items()
        if f.annotation is not None and "SecretStr" in repr(f.annotation)
    }


def variables() -> dict[str, str]:
    """Every environment variable settings reads, with its description (secrets with _FILE)."""
    out: dict[str, str] = {}
    secrets = _secret_fields()
    for name, f in Settings.model_fields.items():
        out[env_name(name)] = f.description or ""
        if name in secrets:
            out[env_name(name) + FILE_SUFFIX] = f"file holding {env_name(name)}"
    return out


def describe() -> str:
    """The variables as text: name, default, description (what ``shipstream settings`` shows)."""
    lines = []
    secrets = _secret_fields()
    for name, f in Settings.model_fields.items():
        default = f.get_default(call_default_factory=True)
        shown = "" if default is None else f" (default {default})"
        lines.append(f"{env_name(name):38} {f.description or ''}{shown}")
        if name in secrets:
            lines.append(f"{env_name(name) + FILE_SUFFIX:38} a file holding {env_name(name)}")
    return "\n".join(lines)


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source reading a given mapping instead of os.environ."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._environ.items() if v != ""}


def _with_secret_files(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with each ``SHIPSTREAM_<SECRET>_FILE`` read into ``SHIPSTREAM_<SECRET>``."""
    out = dict(env)
    for name in _secret_fields():
        var = env_name(name)
        path = out.pop(var + FILE_SUFFIX, "")
        if not path:
            continue
        if out.get(var):
            msg = f"both {var} and {var}{FILE_SUFFIX} are set: keep one"
            raise SettingsError(msg)
        try:
            out[var] = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            msg = f"{var}{FILE_SUFFIX}={path!r} cannot be read ({exc.strerror}): fix the path"
            raise SettingsError(msg) from None
    return out


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from environment variables (see :func:`describe`)."""
    environ = os.environ if env is None else env
    ours = _with_secret_files({k: v for k, v in environ.items() if k.startswith(ENV_PREFIX)})
    try:
        values = _MappingSource(ours)()
    except (ValueError, json.JSONDecodeError) as exc:
        raise SettingsError(str(exc)) from None
    return Settings(**values)
