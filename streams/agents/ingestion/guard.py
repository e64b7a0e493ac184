"""Who may post to ``/ingest`` and how much: signatures, per-carrier rate limits, record caps.

Pure (no faust, no aiohttp) so that every refusal is unit-tested; ``agent.py`` turns a
:class:`Refusal` into the HTTP answer. Checked in this order, cheapest refusal first once the
body is read: the signature (401), the record count (413), the carrier's rate (429).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from streams import signing
from streams.settings import WebhookSettings

log = logging.getLogger(__name__)

#: The rate-limit bucket of requests that name no carrier (``SHIPSTREAM_INGEST_AUTH=none``).
ANONYMOUS = "anonymous"
#: Carrier ids are echoed in errors and used as metric labels: keep them short and plain.
MAX_CARRIER_CHARS = 64


class Refusal(Exception):  # noqa: N818  # a refusal is an answer, not a failure of ours
    """A request refused as a whole: the HTTP status, a stable reason and what to fix."""

    def __init__(
        self, status: int, reason: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        """The JSON body of the answer."""
        return {"error": self.reason, "message": self.message}


@dataclass
class TokenBucket:
    """``rate`` tokens a second up to ``burst``; :meth:`take` says how long to wait if short.

    Hand-written because it is a dozen lines and the answer must include the wait that
    ``Retry-After`` reports, which the limiter libraries on PyPI do not return.
    """

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst
        self.updated = self.clock()

    def take(self, n: float) -> float:
        """Take ``n`` tokens and return 0, or take none and return the seconds until n exist."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if n <= self.tokens:
            self.tokens -= n
            return 0.0
        return (n - self.tokens) / self.rate


class Guard:
    """Authenticates a request and charges its records to its carrier's bucket."""

    def __init__(
        self,
        settings: WebhookSettings,
        keys: signing.Keys | None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.clock = clock
        self.monotonic = monotonic
        self.buckets: dict[str, TokenBucket] = {}
        if settings.ingest_auth == "hmac" and keys is None:
            msg = "SHIPSTREAM_INGEST_AUTH=hmac needs the keys of SHIPSTREAM_INGEST_KEYS_FILE"
            raise ValueError(msg)

    @property
    def signed(self) -> bool:
        """Whether every request must be signed."""
        return self.settings.ingest_auth == "hmac"

    def authenticate(self, headers: Mapping[str, str], body: bytes) -> str:
        """The carrier that sent ``body``; raises a 401 :class:`Refusal` when unproven."""
        carrier = (headers.get(signing.CARRIER_HEADER) or "").strip()
        if len(carrier) > MAX_CARRIER_CHARS or not carrier.isprintable():
            raise Refusal(
                401,
                "carrier_invalid",
                f"{signing.CARRIER_HEADER} must be printable and at most {MAX_CARRIER_CHARS} "
                "characters",
            )
        if not self.signed:
            return carrier or ANONYMOUS
        if not carrier:
            raise Refusal(
                401,
                signing.MISSING,
                f"missing {signing.CARRIER_HEADER} header: name the carrier whose key signed "
                "this request",
                {"WWW-Authenticate": 'HMAC-SHA256 realm="shipstream"'},
            )
        secrets = self.keys.get(carrier) if self.keys is not None else ()
        try:
            signing.verify(
                secrets,
                body,
                headers.get(signing.TIMESTAMP_HEADER),
                headers.get(signing.SIGNATURE_HEADER),
                now=self.clock(),
                tolerance_s=self.settings.ingest_signature_tolerance_s,
            )
        except signing.SignatureError as exc:
            message = str(exc)
            if exc.reason == signing.UNKNOWN_SENDER:
                message = f"no key is configured for carrier {carrier!r}; ask the operator"
            raise Refusal(
                401, exc.reason, message, {"WWW-Authenticate": 'HMAC-SHA256 realm="shipstream"'}
            ) from None
        return carrier

    def admit(self, carrier: str, records: int) -> None:
        """Refuse too many records for one body (413) or for the carrier's rate (429)."""
        cap = self.settings.ingest_max_records
        if records > cap:
            raise Refusal(
                413,
                "too_many_records",
                f"the body holds {records} records, more than the limit of {cap} per request; "
                "split it into smaller batches",
            )
        rate = self.settings.ingest_rate_per_s
        if not rate or not records:
            return
        bucket = self.buckets.get(carrier)
        if bucket is None:
            bucket = TokenBucket(rate, self.settings.ingest_rate_burst, self.monotonic)
            self.buckets[carrier] = bucket
        wait = bucket.take(records)
        if wait:
            retry = max(1, math.ceil(wait))
            raise Refusal(
                429,
                "rate_limited",
                f"carrier {carrier!r} is over its limit of {rate} records/s; send this batch "
                f"again in {retry} s",
                {"Retry-After": str(retry)},
            )
