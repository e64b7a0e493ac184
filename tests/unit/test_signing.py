from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path

import pytest

from streams import signing

BODY = b'[{"event_id": "e1"}]'
NOW = 1_700_000_000


def key() -> bytes:
    return secrets.token_hex(32).encode()  # generated per test: no secret lives in git


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    k = key()
    headers = signing.sign([k], BODY, now=NOW, carrier="acme")
    expected = hmac.new(k, f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers == {
        "X-Shipstream-Timestamp": str(NOW),
        "X-Shipstream-Signature": f"v1={expected}",
        "X-Shipstream-Carrier": "acme",
    }


def test_a_signed_body_verifies() -> None:
    k = key()
    h = signing.sign([k], BODY, now=NOW)
    signing.verify([k], BODY, h[signing.TIMESTAMP_HEADER], h[signing.SIGNATURE_HEADER], now=NOW)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"body": BODY + b" "}, signing.MISMATCH),
        ({"secrets": "other"}, signing.MISMATCH),
        ({"timestamp": str(NOW + 1)}, signing.MISMATCH),  # inside the MAC: cannot be refreshed
        ({"now": NOW + 301}, signing.STALE),  # a replay after the window
        ({"now": NOW - 301}, signing.STALE),  # from the future
        ({"timestamp": None}, signing.MISSING),
        ({"signature": None}, signing.MISSING),
        ({"signature": ""}, signing.MISSING),
        ({"timestamp": "yesterday"}, signing.MALFORMED),
        ({"signature": "sha1=abc"}, signing.MALFORMED),
        ({"signature": ",".join(["v1=00"] * 9)}, signing.MALFORMED),
        ({"signature": "v1=\u00e9\u00e9"}, signing.MISMATCH),  # non-ASCII: no TypeError
        ({"secrets": "none"}, signing.UNKNOWN_SENDER),
    ],
)
def test_refusals_say_why(change, reason) -> None:
    k = key()
    h = signing.sign([k], BODY, now=NOW)
    args = {
        "secrets": [k],
        "body": BODY,
        "timestamp": h[signing.TIMESTAMP_HEADER],
        "signature": h[signing.SIGNATURE_HEADER],
        "now": NOW,
    }
    args.update(change)
    if args["secrets"] == "other":
        args["secrets"] = [key()]
    elif args["secrets"] == "none":
        args["secrets"] = []
    with pytest.raises(signing.SignatureError) as err:
        signing.verify(
            args["secrets"],  # type: ignore[arg-type]
            args["body"],  # type: ignore[arg-type]
            args["timestamp"],  # type: ignore[arg-type]
            args["signature"],  # type: ignore[arg-type]
            now=args["now"],  # type: ignore[arg-type]
        )
    assert err.value.reason == reason
    assert str(err.value)  # a message that says what to fix


def test_rotation_any_of_several_keys_on_either_side() -> None:
    old, new = key(), key()
    # The sender still signs with the old key; the verifier already holds both.
    h = signing.sign([old], BODY, now=NOW)
    signing.verify(
        [new, old], BODY, h[signing.TIMESTAMP_HEADER], h[signing.SIGNATURE_HEADER], now=NOW
    )
    # The sender signs with both during its rotation; a verifier with only the new key passes.
    h = signing.sign([new, old], BODY, now=NOW)
    assert h[signing.SIGNATURE_HEADER].count("v1=") == 2
    signing.verify([new], BODY, h[signing.TIMESTAMP_HEADER], h[signing.SIGNATURE_HEADER], now=NOW)


def test_key_file_loads_names_and_lists(tmp_path: Path) -> None:
    a1, a2, b = (key().decode() for _ in range(3))
    f = tmp_path / "keys.json"
    f.write_text(json.dumps({"acme": [a1, a2], "*": b}))
    keys = signing.load_keys(f)
    assert keys.get("acme") == (a1.encode(), a2.encode())
    assert keys.get("nobody") == ()
    assert keys.for_path("/carrier/expedite") == (b.encode(),)
    assert a1 not in repr(keys) and "acme" in repr(keys)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not json", "is not JSON"),
        ("[]", "must be a JSON object"),
        ('{"acme": []}', "non-empty list"),
        ('{"acme": ["short"]}', "at least 32 characters"),
        ('{"acme": [42]}', "at least 32 characters"),
    ],
)
def test_bad_key_files_are_refused_without_echoing_secrets(
    tmp_path: Path, content: str, fragment: str
) -> None:
    f = tmp_path / "keys.json"
    f.write_text(content)
    with pytest.raises(signing.KeyFileError, match=fragment) as err:
        signing.load_keys(f)
    assert "short" not in str(err.value).replace("shortest", "")


def test_missing_key_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(signing.KeyFileError, match="cannot read key file"):
        signing.load_keys(tmp_path / "nope.json")
