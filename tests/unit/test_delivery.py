from __future__ import annotations

import random
from collections.abc import Mapping

import pytest

from streams.agents.communication.breaker import CircuitBreaker
from streams.agents.communication.delivery import (
    Deliverer,
    Endpoint,
    Reply,
    RetryPolicy,
    retry_after_s,
)
from streams.model import Action, ActionStatus, Decision


def decision(action: Action = Action.HOLD) -> Decision:
    return Decision(
        decision_id="d1",
        shipment_id="S1",
        action=action,
        rule="R2",
        reason="r",
        based_on_event_id="e1",
        event_occurred_at=1,
        decided_at=2,
    )


class FakeTransport:
    def __init__(self, answers: list[int | Reply | Exception]) -> None:
        self.answers = answers
        self.calls: list[Mapping[str, str]] = []
        self.bodies: list[bytes] = []

    async def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        self.calls.append(headers)
        self.bodies.append(body)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, Reply) else Reply(answer)


async def no_sleep(_: float) -> None:
    return None


def deliverer(transport: FakeTransport, attempts: int = 4, threshold: int = 100) -> Deliverer:
    endpoints = {
        a.value: Endpoint(f"http://x/{a.value}", 2, CircuitBreaker(threshold=threshold))
        for a in Action
    }
    return Deliverer(
        endpoints,
        transport,
        RetryPolicy(attempts=attempts),
        random.Random(1),
        sleep=no_sleep,
        clock_ms=lambda: 99,
    )


@pytest.mark.parametrize(
    ("answers", "status", "attempts"),
    [
        ([200], ActionStatus.DELIVERED, 1),
        ([409], ActionStatus.DUPLICATE, 1),
        ([422], ActionStatus.FAILED_PERMANENT, 1),
        ([503, 500, 201], ActionStatus.DELIVERED, 3),
        ([OSError("refused"), TimeoutError(), 200], ActionStatus.DELIVERED, 3),
        ([503, 503, 503, 503], ActionStatus.FAILED_EXHAUSTED, 4),
    ],
)
async def test_status_mapping_and_retries(answers, status, attempts) -> None:
    t = FakeTransport(list(answers))
    result = await deliverer(t).deliver(decision())
    assert (result.status, result.attempts) == (status, attempts)
    assert all(h["Idempotency-Key"] == "d1" for h in t.calls)


async def test_exhausted_result_carries_the_last_error() -> None:
    result = await deliverer(FakeTransport([503] * 4)).deliver(decision())
    assert result.error == "HTTP 503" and result.http_status == 503


async def test_open_circuit_stops_calling_the_endpoint_without_spending_attempts() -> None:
    clock = Clock()
    t = FakeTransport([503, 503, 200])
    breaker = CircuitBreaker(threshold=2, reset_s=5, clock=lambda: clock.now)
    endpoints = {a.value: Endpoint(f"http://x/{a.value}", 2, breaker) for a in Action}
    d = Deliverer(
        endpoints,
        t,
        RetryPolicy(attempts=3, budget_s=300),
        random.Random(1),
        sleep=clock.sleep,
        monotonic=lambda: clock.now,
    )
    result = await d.deliver(decision())
    # Two failures opened the circuit; the rounds it held back sent nothing and cost no
    # attempt, so the third attempt, after it half-opened, was still allowed.
    assert (result.status, result.attempts, len(t.calls)) == (ActionStatus.DELIVERED, 3, 3)
    assert clock.now >= 5 and len(clock.slept) > 2


async def test_an_open_circuit_ends_at_the_budget_with_the_last_failure() -> None:
    clock = Clock()
    t = FakeTransport([503] * 100)
    breaker = CircuitBreaker(threshold=1, reset_s=1000, clock=lambda: clock.now)
    endpoints = {a.value: Endpoint(f"http://x/{a.value}", 2, breaker) for a in Action}
    d = Deliverer(
        endpoints,
        t,
        RetryPolicy(attempts=30, budget_s=60),
        random.Random(1),
        sleep=clock.sleep,
        monotonic=lambda: clock.now,
    )
    result = await d.deliver(decision())
    assert result.status is ActionStatus.FAILED_EXHAUSTED and result.attempts == len(t.calls) == 1
    assert "circuit open (last failure: HTTP 503)" in (result.error or "")
    assert "retry budget of 60 s" in (result.error or "") and clock.now <= 60


def test_full_jitter_stays_under_the_exponential_cap() -> None:
    policy = RetryPolicy(base_s=0.1, cap_s=1.0)
    rng = random.Random(7)
    delays = [policy.delay(n, rng) for n in range(1, 8) for _ in range(50)]
    assert max(delays) <= 1.0 and min(delays) >= 0
    assert max(policy.delay(1, rng) for _ in range(50)) <= 0.1


def test_breaker_half_opens_after_reset_and_closes_on_success() -> None:
    now = [0.0]
    b = CircuitBreaker(threshold=1, reset_s=5, clock=lambda: now[0])
    b.record_failure()
    assert not b.allow()
    now[0] = 5.0
    assert b.allow() and not b.allow()  # one trial at a time
    b.record_success()
    assert b.state == "closed"


async def test_a_hanging_endpoint_does_not_hold_up_another() -> None:
    import asyncio

    release = asyncio.Event()

    async def transport(url: str, body: bytes, headers: Mapping[str, str]) -> Reply:
        if url.endswith("HOLD"):
            await release.wait()
        return Reply(200)

    endpoints = {a.value: Endpoint(f"http://x/{a.value}", 1) for a in Action}
    d = Deliverer(endpoints, transport, RetryPolicy(attempts=1), sleep=no_sleep)
    stuck = asyncio.create_task(d.deliver(decision(Action.HOLD)))
    done = await asyncio.wait_for(d.deliver(decision(Action.CLOSE)), timeout=1)
    assert done.status is ActionStatus.DELIVERED and not stuck.done()
    release.set()
    assert (await stuck).status is ActionStatus.DELIVERED


class Clock:
    """A monotonic clock that the fake sleep advances."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def budgeted(t: FakeTransport, clock: Clock, budget_s: float, **kw: object) -> Deliverer:
    endpoints = {
        a.value: Endpoint(f"http://x/{a.value}", 2, CircuitBreaker(threshold=1000), **kw)  # type: ignore[arg-type]
        for a in Action
    }
    policy = RetryPolicy(attempts=1000, base_s=0.5, cap_s=30, budget_s=budget_s)
    return Deliverer(
        endpoints,
        t,
        policy,
        random.Random(3),
        sleep=clock.sleep,
        clock_ms=lambda: int(1_700_000_000_000 + clock.now * 1000),
        monotonic=lambda: clock.now,
    )


async def test_retries_span_the_budget_and_stop_inside_it() -> None:
    clock = Clock()
    t = FakeTransport([503] * 1000)
    result = await budgeted(t, clock, budget_s=120).deliver(decision())
    assert result.status is ActionStatus.FAILED_EXHAUSTED
    assert 60 < clock.now <= 120  # minutes of retrying, never past the budget
    assert result.attempts == len(t.calls) > 5
    assert "retry budget of 120 s" in (result.error or "")


async def test_an_outage_shorter_than_the_budget_is_ridden_out() -> None:
    clock = Clock()
    t = FakeTransport([OSError("refused")] * 12 + [200])
    result = await budgeted(t, clock, budget_s=300).deliver(decision())
    assert result.status is ActionStatus.DELIVERED and result.attempts == 13


async def test_retry_after_is_waited_at_least() -> None:
    clock = Clock()
    t = FakeTransport([Reply(429, retry_after_s=7), Reply(503, retry_after_s=11), 200])
    result = await budgeted(t, clock, budget_s=300).deliver(decision())
    assert result.status is ActionStatus.DELIVERED
    assert clock.slept[0] >= 7 and clock.slept[1] >= 11


async def test_a_retry_after_past_the_budget_ends_the_delivery_now() -> None:
    clock = Clock()
    t = FakeTransport([Reply(503, retry_after_s=600), 200])
    result = await budgeted(t, clock, budget_s=300).deliver(decision())
    assert result.status is ActionStatus.FAILED_EXHAUSTED and result.attempts == 1
    assert clock.slept == [] and "Retry-After 600 s" in (result.error or "")


async def test_a_redirect_is_a_permanent_failure_not_followed() -> None:
    clock = Clock()
    t = FakeTransport([Reply(307, location="http://elsewhere/x")])
    result = await budgeted(t, clock, budget_s=300).deliver(decision())
    assert result.status is ActionStatus.FAILED_PERMANENT and len(t.calls) == 1
    assert "redirects are not followed" in (result.error or "")
    assert "http://elsewhere/x" in (result.error or "")


async def test_every_attempt_is_signed_with_its_own_timestamp() -> None:
    from streams import signing

    secret = b"s" * 40
    clock = Clock()
    t = FakeTransport([503, 503, 200])
    await budgeted(t, clock, budget_s=300, secrets=(secret,)).deliver(decision())
    stamps = [h[signing.TIMESTAMP_HEADER] for h in t.calls]
    assert len(set(stamps)) == len(stamps) or clock.now < 2
    for headers, body in zip(t.calls, t.bodies, strict=True):
        now = int(headers[signing.TIMESTAMP_HEADER])
        signing.verify(
            [secret],
            body,
            headers[signing.TIMESTAMP_HEADER],
            headers[signing.SIGNATURE_HEADER],
            now=now,
        )


async def test_unsigned_without_secrets() -> None:
    t = FakeTransport([200])
    await deliverer(t).deliver(decision())
    assert "X-Shipstream-Signature" not in t.calls[0]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (None, None),
        ("soon", None),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 40.0),
        ("Thu, 01 Jan 1970 00:00:10 GMT", 0.0),
    ],
)
def test_retry_after_parses_seconds_and_http_dates(value, seconds) -> None:
    assert retry_after_s(value, now=60.0) == seconds
