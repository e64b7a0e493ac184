"""Delivering decisions to HTTP endpoints with SPEC's semantics.

``Idempotency-Key: <decision_id>`` makes a retry safe; 2xx is delivered, 409 a duplicate
(already applied), other 4xx and 3xx permanent (redirects are not followed), 5xx, 429,
timeouts and connection errors are retried with exponential backoff and full jitter
(``RetryPolicy``: the schedule tenacity waits by), waiting at least what a ``Retry-After``
asks, for as long as the retry budget lasts (minutes, so an endpoint's short outage does not
turn decisions into FAILED_EXHAUSTED). Each attempt is
signed anew (``streams.signing``) so its timestamp stays inside the endpoint's replay window
however long the retries take. Each endpoint has its own concurrency limit and circuit breaker
so a slow or failing one cannot starve the others.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from tenacity import AsyncRetrying, RetryCallState, retry_if_result

from streams import signing
from streams.agents.communication.breaker import CircuitBreaker
from streams.model import ActionResult, ActionStatus, Decision


@dataclass(frozen=True)
class Reply:
    """What delivery needs of an HTTP answer."""

    status: int
    #: Seconds the endpoint asked to wait (``Retry-After``), when it asked.
    retry_after_s: float | None = None
    location: str | None = None


#: Sends one POST (never following a redirect) and returns the answer; raises
#: OSError/TimeoutError when the endpoint cannot be reached.
Transport = Callable[[str, bytes, Mapping[str, str]], Awaitable[Reply]]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter (AWS architecture blog's variant), within a budget.

    Retrying stops at ``attempts`` requests sent or when the next wait would end past
    ``budget_s`` after the first attempt, whichever comes first. Rounds held back by an open
    circuit breaker send nothing and spend no attempt, only budget: otherwise an open circuit
    would burn every attempt within seconds and end decisions long before the budget.
    """

    attempts: int = 30
    base_s: float = 0.5
    cap_s: float = 30.0
    budget_s: float = 300.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))


@dataclass
class _Attempts:
    """What the attempts of one delivery saw so far."""

    started: float
    #: Requests sent: what ``attempts`` counts and reports.
    count: int = 0
    http_status: int | None = None
    error: str | None = None
    #: The last request's failure, kept while the circuit holds later rounds back.
    failure: str | None = None
    retry_after: float | None = None


@dataclass
class Endpoint:
    """One destination with its own limit, breaker and signing secrets (none: unsigned)."""

    url: str
    concurrency: int = 16
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    secrets: tuple[bytes, ...] = field(default=(), repr=False)

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
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoints = endpoints
        self.transport = transport
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()  # noqa: S311  # jitter, not security
        self.sleep = sleep
        self.clock_ms = clock_ms
        self.monotonic = monotonic

    def headers(self, decision: Decision, endpoint: Endpoint, body: bytes) -> dict[str, str]:
        """The headers of one attempt, signed now when the endpoint has secrets."""
        headers = {"Idempotency-Key": decision.decision_id, "Content-Type": "application/json"}
        if endpoint.secrets:
            headers.update(signing.sign(endpoint.secrets, body, now=self.clock_ms() / 1000))
        return headers

    async def deliver(self, decision: Decision) -> ActionResult:
        """Try until delivered, duplicate, permanently refused, out of attempts or budget."""
        endpoint = self.endpoints[str(decision.action)]
        body = payload(decision)
        policy = self.policy
        last = _Attempts(started=self.monotonic())

        def out_of_attempts_or_budget(state: RetryCallState) -> bool:
            # tenacity's stop_before_delay, on our clock (tests drive it) and with the wait a
            # Retry-After asked for: stop now when the next attempt would start past the budget.
            if last.count >= policy.attempts:
                return True
            spent = self.monotonic() - last.started
            if spent + state.upcoming_sleep <= policy.budget_s:
                return False
            asked = f", Retry-After {last.retry_after:g} s" if last.retry_after is not None else ""
            last.error = (
                f"{last.error}; retry budget of {policy.budget_s:g} s would be exceeded "
                f"after {spent:.1f} s{asked}"
            )
            return True

        def wait(state: RetryCallState) -> float:
            # The backoff's exponent counts every round, sent or held back by the circuit.
            delay = policy.delay(state.attempt_number, self.rng)
            return delay if last.retry_after is None else max(delay, last.retry_after)

        # Most deliveries end at the first attempt: made here, without tenacity's machinery
        # (three quarters of what delivering cost, not counting the request). When it asks
        # for more, tenacity runs the rounds, the first of which hands back this outcome.
        first: ActionStatus | None = await self._attempt(decision, endpoint, body, last)
        if first is not None:
            return self._result(decision, endpoint, first, last.count, last.http_status, last.error)
        rounds = 0

        async def attempt() -> ActionStatus | None:
            nonlocal rounds
            rounds += 1
            if rounds == 1:
                return first
            return await self._attempt(decision, endpoint, body, last)

        retrying = AsyncRetrying(
            stop=out_of_attempts_or_budget,
            wait=wait,
            sleep=self.sleep,
            retry=retry_if_result(lambda outcome: outcome is None),
            retry_error_callback=lambda _state: None,  # out of attempts: FAILED_EXHAUSTED
        )
        outcome: ActionStatus | None = await retrying(attempt)
        status = ActionStatus.FAILED_EXHAUSTED if outcome is None else outcome
        return self._result(decision, endpoint, status, last.count, last.http_status, last.error)

    async def _attempt(
        self, decision: Decision, endpoint: Endpoint, body: bytes, last: _Attempts
    ) -> ActionStatus | None:
        """One round: its final status, or None to try again (``last`` keeps what it saw)."""
        last.retry_after = None
        if not endpoint.breaker.allow():
            # Nothing is sent, so no attempt is spent: only the budget runs.
            last.error = "circuit open"
            if last.failure:
                last.error += f" (last failure: {last.failure})"
            return None
        last.count += 1
        async with endpoint.slots:
            try:
                reply = await self.transport(
                    endpoint.url, body, self.headers(decision, endpoint, body)
                )
                last.http_status, last.retry_after, last.error = (
                    reply.status,
                    reply.retry_after_s,
                    None,
                )
                if 300 <= reply.status < 400:
                    last.error = f"HTTP {reply.status}: redirects are not followed"
                    if reply.location:
                        last.error += f" (Location: {reply.location[:200]})"
            except (OSError, TimeoutError) as exc:
                last.http_status, last.error = None, f"{type(exc).__name__}: {exc}"
        outcome = _classify(last.http_status)
        if outcome is not None:
            endpoint.breaker.record_success()
            return outcome
        endpoint.breaker.record_failure()
        if last.http_status is not None:
            last.error = f"HTTP {last.http_status}"
        last.failure = last.error
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


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unreadable: the backoff alone decides
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _classify(http_status: int | None) -> ActionStatus | None:
    """Final status of an HTTP answer, or None when it should be retried."""
    if http_status is None or http_status >= 500 or http_status == 429:
        return None
    if 200 <= http_status < 300:
        return ActionStatus.DELIVERED
    if http_status == 409:
        return ActionStatus.DUPLICATE
    return ActionStatus.FAILED_PERMANENT
