"""HMAC-SHA256 webhook signatures: the one definition both directions use.

Who uses it: ``POST /ingest`` verifies carriers' webhooks, the communication role signs each
delivery, the reference endpoint (``ops/endpoint``) verifies them, and the clients that post to
``/ingest`` (``shipstream post``, tests) sign with it. The scheme follows Stripe's and GitHub's
webhooks:

- ``X-Shipstream-Timestamp: <unix seconds>`` — when the request was signed;
- ``X-Shipstream-Signature: v1=<hex>[,v1=<hex>...]`` — HMAC-SHA256, keyed by a shared secret,
  of ``<timestamp> + "." + <raw body bytes>``; several ``v1=`` entries when the signer holds
  several keys (during a rotation), any one of which may match;
- ``X-Shipstream-Carrier: <id>`` — which carrier's keys to verify with (ingestion only).

A signature is accepted when the timestamp is within ``tolerance_s`` of the verifier's clock
(either way) and one ``v1`` entry equals the HMAC under one of the verifier's keys, compared in
constant time (:func:`hmac.compare_digest`). The timestamp is inside the MAC, so an old request
cannot be replayed with a fresh timestamp.

Key files are JSON objects from a name (a carrier id for ingestion, an endpoint path or ``*``
for delivery) to a list of secrets, current key first::

    {"acme": ["new-secret-at-least-32-characters-long", "old-secret-still-accepted..."]}

A verifier accepts every key listed; a signer signs with every key listed, so either side can
rotate: add the new key on both, then remove the old one. Secrets are text of at least
:data:`MIN_SECRET_CHARS` characters (e.g. ``openssl rand -hex 32``), used as their UTF-8 bytes.
This module never logs or formats a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SCHEME = "v1"
CARRIER_HEADER = "X-Shipstream-Carrier"
TIMESTAMP_HEADER = "X-Shipstream-Timestamp"
SIGNATURE_HEADER = "X-Shipstream-Signature"
#: Shortest secret a key file may hold: 32 hex characters are 128 bits.
MIN_SECRET_CHARS = 32
#: Default replay window, as Stripe's libraries use.
DEFAULT_TOLERANCE_S = 300
#: ``SignatureError.reason`` values, also the ``error`` of a 401's JSON body.
MISSING = "signature_missing"
MALFORMED = "signature_malformed"
STALE = "signature_stale"
UNKNOWN_SENDER = "signature_unknown_sender"
MISMATCH = "signature_mismatch"
#: The most ``v1=`` entries a header may carry (bounds the work an attacker can ask for).
MAX_SIGNATURES = 8


class KeyFileError(ValueError):
    """A key file is missing, not JSON, or not in the documented shape."""


class SignatureError(ValueError):
    """A request's signature is missing, malformed, stale or wrong.

    ``reason`` is a stable word for metrics and the JSON error body; ``str()`` says what to fix.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Keys:
    """Secrets by name, as loaded from a key file. ``repr`` shows names only."""

    by_name: Mapping[str, tuple[bytes, ...]]

    def __repr__(self) -> str:
        return f"Keys(names={sorted(self.by_name)})"

    def get(self, name: str) -> tuple[bytes, ...]:
        """The secrets of ``name`` (empty when unknown)."""
        return self.by_name.get(name, ())

    def for_path(self, path: str) -> tuple[bytes, ...]:
        """The secrets of an endpoint path, falling back to ``*``."""
        return self.by_name.get(path) or self.by_name.get("*", ())


def load_keys(path: Path) -> Keys:
    """Read a key file (see the module docstring); errors name the file, never a secret."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read key file {path}: {exc.strerror or exc}"
        raise KeyFileError(msg) from None
    except ValueError as exc:
        msg = f"key file {path} is not JSON ({exc.__class__.__name__} at line {_line(exc)})"
        raise KeyFileError(msg) from None
    if not isinstance(raw, dict) or not raw:
        msg = f'key file {path} must be a JSON object like {{"acme": ["<secret>", ...]}}'
        raise KeyFileError(msg)
    keys: dict[str, tuple[bytes, ...]] = {}
    for name, secrets in raw.items():
        if isinstance(secrets, str):
            secrets = [secrets]
        if not isinstance(secrets, list) or not secrets:
            msg = f"key file {path}: {name!r} must map to a non-empty list of secrets"
            raise KeyFileError(msg)
        for i, secret in enumerate(secrets):
            if not isinstance(secret, str) or len(secret) < MIN_SECRET_CHARS:
                msg = (
                    f"key file {path}: secret #{i} of {name!r} must be a string of at least "
                    f"{MIN_SECRET_CHARS} characters (e.g. `openssl rand -hex 32`)"
                )
                raise KeyFileError(msg)
        keys[name] = tuple(s.encode() for s in secrets)
    return Keys(keys)


def _line(exc: ValueError) -> object:
    return getattr(exc, "lineno", "?")


def signed_payload(timestamp: int, body: bytes) -> bytes:
    """What the MAC covers: the timestamp, a dot, the raw body."""
    return str(timestamp).encode() + b"." + body


def digest(secret: bytes, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of one key over the signed payload."""
    return hmac.new(secret, signed_payload(timestamp, body), hashlib.sha256).hexdigest()


def sign(
    secrets: Sequence[bytes], body: bytes, *, now: float | None = None, carrier: str | None = None
) -> dict[str, str]:
    """The headers that sign ``body`` with every one of ``secrets`` at ``now``."""
    if not secrets:
        msg = "no secret to sign with"
        raise ValueError(msg)
    timestamp = int(time.time() if now is None else now)
    headers = {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: ",".join(f"{SCHEME}={digest(s, timestamp, body)}" for s in secrets),
    }
    if carrier is not None:
        headers[CARRIER_HEADER] = carrier
    return headers


def verify(
    secrets: Sequence[bytes],
    body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    *,
    now: float | None = None,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> None:
    """Return when one signature matches one secret within the window; raise otherwise."""
    if not timestamp_header or not signature_header:
        missing = TIMESTAMP_HEADER if not timestamp_header else SIGNATURE_HEADER
        msg = f"missing {missing} header; sign the request (see README, Webhooks in and out)"
        raise SignatureError(MISSING, msg)
    try:
        timestamp = int(timestamp_header.strip())
    except ValueError:
        msg = f"{TIMESTAMP_HEADER} must be integer unix seconds, got {timestamp_header[:32]!r}"
        raise SignatureError(MALFORMED, msg) from None
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance_s:
        msg = (
            f"{TIMESTAMP_HEADER} {timestamp} is {int(clock - timestamp)} s from this server's "
            f"clock, outside the {tolerance_s} s window; sign each request when sending it and "
            "keep the sender's clock in sync (a replayed request is refused the same way)"
        )
        raise SignatureError(STALE, msg)
    entries = (part.strip().partition("=") for part in signature_header.split(","))
    candidates = [value.strip() for scheme, _, value in entries if scheme == SCHEME]
    if not candidates or len(candidates) > MAX_SIGNATURES:
        msg = (
            f"{SIGNATURE_HEADER} must be {SCHEME}=<hex HMAC-SHA256> (1 to {MAX_SIGNATURES} "
            "entries separated by commas)"
        )
        raise SignatureError(MALFORMED, msg)
    if not secrets:
        msg = "no key is configured for this sender; ask the operator to add one"
        raise SignatureError(UNKNOWN_SENDER, msg)
    matched = False
    for secret in secrets:
        expected = digest(secret, timestamp, body)
        for candidate in candidates:
            # Every pair is compared, with no early exit, so timing says nothing about keys.
            matched |= hmac.compare_digest(expected.encode(), candidate.encode(errors="replace"))
    if not matched:
        msg = (
            f"{SIGNATURE_HEADER} does not match: compute hex HMAC-SHA256 over "
            f"'<{TIMESTAMP_HEADER}>.<raw body>' with your current key"
        )
        raise SignatureError(MISMATCH, msg)
