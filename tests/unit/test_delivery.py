from __future__ import annotations

import random
from collections.abc import Mapping

import pytest

from streams.agents.communication.breaker import CircuitBreaker
from streams.agents.communication.delivery import Deliverer, Endpoint, RetryPolicy
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
    def __init__(self, answers: list[int | Exception]) -> None:
        self.answers = answers
        self.calls: list[Mapping[str, str]] = []

    async def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.calls.append(headers)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


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


async def test_open_circuit_stops_calling_the_endpoint() -> None:
    t = FakeTransport([503, 503] + [200] * 10)
    d = deliverer(t, attempts=5, threshold=2)
    result = await d.deliver(decision())
    assert result.status is ActionStatus.FAILED_EXHAUSTED
    assert len(t.calls) == 2  # the breaker opened after two failures: no more traffic


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

    async def transport(url: str, body: bytes, headers: Mapping[str, str]) -> int:
        if url.endswith("HOLD"):
            await release.wait()
        return 200

    endpoints = {a.value: Endpoint(f"http://x/{a.value}", 1) for a in Action}
    d = Deliverer(endpoints, transport, RetryPolicy(attempts=1), sleep=no_sleep)
    stuck = asyncio.create_task(d.deliver(decision(Action.HOLD)))
    done = await asyncio.wait_for(d.deliver(decision(Action.CLOSE)), timeout=1)
    assert done.status is ActionStatus.DELIVERED and not stuck.done()
    release.set()
    assert (await stuck).status is ActionStatus.DELIVERED
