"""Delivering decisions to HTTP endpoints with SPEC's semantics.

``Idempotency-Key: <decision_id>`` makes a retry safe; 2xx is delivered, 409 a duplicate
(already applied), other 4xx permanent, 5xx/timeouts/connection errors are retried with
exponential backoff and full jitter (``RetryPolicy``: the schedule tenacity waits by). Each
endpoint has its own concurrency limit and circuit breaker so a slow or failing one cannot
starve the others.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from tenacity import AsyncRetrying, retry_if_result, stop_after_attempt

from streams.agents.communication.breaker import CircuitBreaker
from streams.model import ActionResult, ActionStatus, Decision

#: Sends one POST and returns the HTTP status; raises OSError/TimeoutError when unreachable.
Transport = Callable[[str, bytes, Mapping[str, str]], Awaitable[int]]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter (AWS architecture blog's variant)."""

    attempts: int = 5
    base_s: float = 0.05
    cap_s: float = 2.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))


@dataclass
class _Attempts:
    """What the attempts of one delivery saw so far."""

    count: int = 0
    http_status: int | None = None
    error: str | None = None


@dataclass
class Endpoint:
    """One destination with its own limit and breaker."""

    url: str
    concurrency: int = 16
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.concurrency)


def payload(decision: Decision) -> bytes:
    """The JSON body POSTed for a decision."""
    return json.dumps(decision.to_json(), sort_keys=True).encode()


class Deliverer:
    """Delivers decisions to the endpoint of their action and reports an ActionResult."""

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint],
        transport: Transport,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.endpoints = endpoints
        self.transport = transport
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()  # noqa: S311  # jitter, not security
        self.sleep = sleep
        self.clock_ms = clock_ms

    async def deliver(self, decision: Decision) -> ActionResult:
        """Try until delivered, duplicate, permanently refused or out of attempts."""
        endpoint = self.endpoints[str(decision.action)]
        body = payload(decision)
        headers = {"Idempotency-Key": decision.decision_id, "Content-Type": "application/json"}
        last = _Attempts()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=lambda state: self.policy.delay(state.attempt_number, self.rng),
            sleep=self.sleep,
            retry=retry_if_result(lambda outcome: outcome is None),
            retry_error_callback=lambda _state: None,  # out of attempts: FAILED_EXHAUSTED
        )
        outcome: ActionStatus | None = await retrying(self._attempt, endpoint, body, headers, last)
        status = ActionStatus.FAILED_EXHAUSTED if outcome is None else outcome
        return self._result(decision, endpoint, status, last.count, last.http_status, last.error)

    async def _attempt(
        self, endpoint: Endpoint, body: bytes, headers: Mapping[str, str], last: _Attempts
    ) -> ActionStatus | None:
        """One try: its final status, or None to try again (``last`` keeps what it saw)."""
        last.count += 1
        if not endpoint.breaker.allow():
            last.error = "circuit open"
            return None
        async with endpoint.slots:
            try:
                last.http_status = await self.transport(endpoint.url, body, headers)
                last.error = None
            except (OSError, TimeoutError) as exc:
                last.http_status, last.error = None, f"{type(exc).__name__}: {exc}"
        outcome = _classify(last.http_status)
        if outcome is not None:
            endpoint.breaker.record_success()
            return outcome
        endpoint.breaker.record_failure()
        if last.http_status is not None:
            last.error = f"HTTP {last.http_status}"
        return None

    def _result(
        self,
        d: Decision,
        ep: Endpoint,
        status: ActionStatus,
        attempts: int,
        http_status: int | None,
        error: str | None,
    ) -> ActionResult:
        if status is ActionStatus.FAILED_PERMANENT:
            error = error or f"HTTP {http_status}: refused permanently"
        return ActionResult(
            decision_id=d.decision_id,
            shipment_id=d.shipment_id,
            action=d.action,
            endpoint=ep.url,
            status=status,
            attempts=attempts,
            http_status=http_status,
            completed_at=self.clock_ms(),
            error=error if status not in _OK else None,
        )


_OK = (ActionStatus.DELIVERED, ActionStatus.DUPLICATE)


def _classify(http_status: int | None) -> ActionStatus | None:
    """Final status of an HTTP answer, or None when it should be retried."""
    if http_status is None or http_status >= 500 or http_status == 429:
        return None
    if 200 <= http_status < 300:
        return ActionStatus.DELIVERED
    if http_status == 409:
        return ActionStatus.DUPLICATE
    return ActionStatus.FAILED_PERMANENT
