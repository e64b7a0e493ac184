from __future__ import annotations

import secrets

import pytest

from streams import signing
from streams.agents.ingestion.guard import ANONYMOUS, Guard, Refusal, TokenBucket
from streams.settings import SettingsError, WebhookSettings

BODY = b'{"event_id": "e1"}'
NOW = 1_700_000_000.0


def guard(auth: str = "hmac", **kw: int) -> tuple[Guard, bytes]:
    k = secrets.token_hex(32).encode()
    keys = signing.Keys({"acme": (k,)})
    s = WebhookSettings(ingest_auth=auth, ingest_keys_file=None if auth == "none" else "k", **kw)  # type: ignore[arg-type]
    mono = [0.0]
    g = Guard(s, keys if auth == "hmac" else None, clock=lambda: NOW, monotonic=lambda: mono[0])
    g.mono = mono  # type: ignore[attr-defined]
    return g, k


def test_signed_request_names_its_carrier() -> None:
    g, k = guard()
    assert g.authenticate(signing.sign([k], BODY, now=NOW, carrier="acme"), BODY) == "acme"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, signing.MISSING),
        ({"X-Shipstream-Carrier": "acme"}, signing.MISSING),
        ("wrong-key", signing.MISMATCH),
        ("stale", signing.STALE),
        ("other-carrier", signing.UNKNOWN_SENDER),
        ({"X-Shipstream-Carrier": "a" * 65}, "carrier_invalid"),
    ],
)
def test_unproven_requests_get_401(headers, reason) -> None:
    g, k = guard()
    if headers == "wrong-key":
        headers = signing.sign([secrets.token_hex(32).encode()], BODY, now=NOW, carrier="acme")
    elif headers == "stale":
        headers = signing.sign([k], BODY, now=NOW - 3600, carrier="acme")
    elif headers == "other-carrier":
        headers = signing.sign([k], BODY, now=NOW, carrier="globex")
    with pytest.raises(Refusal) as err:
        g.authenticate(headers, BODY)
    assert (err.value.status, err.value.reason) == (401, reason)
    assert err.value.body()["message"]


def test_unsigned_mode_lets_anyone_in_as_named_or_anonymous() -> None:
    g, _ = guard("none")
    assert g.authenticate({}, BODY) == ANONYMOUS
    assert g.authenticate({"X-Shipstream-Carrier": "acme"}, BODY) == "acme"


def test_too_many_records_is_413() -> None:
    g, _ = guard(ingest_max_records=10, ingest_rate_burst=10)
    g.admit("acme", 10)
    with pytest.raises(Refusal) as err:
        g.admit("acme", 11)
    assert (err.value.status, err.value.reason) == (413, "too_many_records")


def test_rate_limit_is_per_carrier_with_retry_after() -> None:
    g, _ = guard(ingest_rate_per_s=10, ingest_rate_burst=20, ingest_max_records=20)
    g.admit("acme", 20)
    g.admit("globex", 20)  # its own bucket
    with pytest.raises(Refusal) as err:
        g.admit("acme", 15)
    assert err.value.status == 429 and err.value.headers == {"Retry-After": "2"}
    g.mono[0] += 1.5  # type: ignore[attr-defined]
    g.admit("acme", 15)


def test_bucket_refills_up_to_burst() -> None:
    now = [0.0]
    b = TokenBucket(rate=5, burst=10, clock=lambda: now[0])
    assert b.take(10) == 0 and b.take(1) == pytest.approx(0.2)
    now[0] = 100.0
    assert b.take(10) == 0 and b.take(1) > 0


def test_hmac_without_a_key_file_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="SHIPSTREAM_INGEST_KEYS_FILE"):
        WebhookSettings(ingest_auth="hmac")
    with pytest.raises(SettingsError, match="hmac"):
        WebhookSettings(ingest_auth="basic")
    with pytest.raises(SettingsError, match="RETRY_BUDGET"):
        WebhookSettings(delivery_retry_budget_s=0)
