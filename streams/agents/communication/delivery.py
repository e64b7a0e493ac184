"""Delivering decisions to HTTP endpoints with SPEC's semantics.

``Idempotency-Key: <decision_id>`` makes a retry safe; 2xx is delivered, 409 a duplicate
(already applied), other 4xx permanent, 5xx/timeouts/connection errors are retried with
exponential backoff and full jitter. Each endpoint has its own concurrency limit and circuit
breaker so a slow or failing one cannot starve the others.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

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
        http_status: int | None = None
        error: str | None = None
        for attempt in range(1, self.policy.attempts + 1):
            if not endpoint.breaker.allow():
                error = "circuit open"
            else:
                async with endpoint.slots:
                    try:
                        http_status = await self.transport(endpoint.url, body, headers)
                        error = None
                    except (OSError, TimeoutError) as exc:
                        http_status, error = None, f"{type(exc).__name__}: {exc}"
                outcome = _classify(http_status)
                if outcome is not None:
                    endpoint.breaker.record_success()
                    return self._result(decision, endpoint, outcome, attempt, http_status, error)
                endpoint.breaker.record_failure()
                if http_status is not None:
                    error = f"HTTP {http_status}"
            if attempt < self.policy.attempts:
                await self.sleep(self.policy.delay(attempt, self.rng))
        return self._result(
            decision,
            endpoint,
            ActionStatus.FAILED_EXHAUSTED,
            self.policy.attempts,
            http_status,
            error,
        )

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
