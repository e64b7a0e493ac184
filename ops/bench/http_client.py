"""``python -m ops.bench.http_client``: the client CPU of one delivery request, two transports.

The communication role sends one POST per decision. This puts aiohttp's client (what the role
used before) and ``streams.agents.communication.http.HttpTransport`` side by side against the
reference endpoint (its own process on the chaos stack's endpoint port, so its CPU is not
counted), rounds interleaved, 16 requests in flight as one endpoint's concurrency limit
allows, and prints the client process's CPU per request (``time.process_time``: user +
system, the kernel's loopback work included) and the requests per second. Writes
``.local/bench/http_client.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any

import aiohttp

from ops.bench.env import BENCH_DIR, write_report
from ops.chaos.config import StackPorts
from ops.chaos.stack import Endpoint
from streams.agents.communication.http import HttpTransport

Post = Callable[[str, bytes, Mapping[str, str]], Awaitable[int]]
CONCURRENCY = 16
BODY = b'{"action": "CLOSE", "decision_id": "d-000000000001", "shipment_id": "SHP-00000001"}'


async def _measure(post: Post, url: str, n: int) -> tuple[float, float]:
    """(µs of CPU per request, requests per second) over ``n`` requests after a warm-up."""
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with slots:
            status = await post(url, BODY, {"Idempotency-Key": f"k-{i}-{time.time_ns()}"})
            if status != 200:
                msg = f"the endpoint answered {status}"
                raise RuntimeError(msg)

    await asyncio.gather(*(one(i) for i in range(min(n, 500))))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu / n * 1e6, n / wall


async def _aiohttp(url: str, n: int) -> tuple[float, float]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def post(u: str, body: bytes, headers: Mapping[str, str]) -> int:
            async with session.post(u, data=body, headers=dict(headers)) as resp:
                await resp.content.read(64 * 1024)
                return resp.status

        return await _measure(post, url, n)


async def _httptools(url: str, n: int) -> tuple[float, float]:
    transport = HttpTransport(10.0)

    async def post(u: str, body: bytes, headers: Mapping[str, str]) -> int:
        return (await transport(u, body, headers)).status

    try:
        return await _measure(post, url, n)
    finally:
        await transport.close()


SYSTEMS: dict[str, Callable[[str, int], Coroutine[Any, Any, tuple[float, float]]]] = {
    "aiohttp ClientSession": _aiohttp,
    "HttpTransport (httptools)": _httptools,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Start the endpoint, measure both transports ``--rounds`` times, report the medians."""
    p = argparse.ArgumentParser(prog="python -m ops.bench.http_client", description=__doc__)
    p.add_argument("--requests", type=int, default=10_000, help="requests per round")
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    # Answering at once: the figure is the client's CPU, not the endpoint's latency.
    log_path = BENCH_DIR / "http_client-endpoint.log"
    endpoint = Endpoint(StackPorts().endpoint, 0.0, 1, log_path, latency_ms=0, jitter_ms=0)
    endpoint.start()
    url = f"{endpoint.url}/dispatch/close"
    try:
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in SYSTEMS}
        for _ in range(a.rounds):
            for name, run in SYSTEMS.items():
                runs[name].append(asyncio.run(run(url, a.requests)))
    finally:
        endpoint.stop()
    results: dict[str, Any] = {}
    lines = [f"{'transport':28} {'CPU us/request':>15} {'requests/s':>11}   rounds (us)"]
    for name, rounds in runs.items():
        cpu = statistics.median(r[0] for r in rounds)
        rate = statistics.median(r[1] for r in rounds)
        results[name] = {"cpu_us_per_request": cpu, "requests_per_s": rate, "rounds": rounds}
        each = " / ".join(f"{r[0]:.0f}" for r in rounds)
        lines.append(f"{name:28} {cpu:15.1f} {rate:11,.0f}   {each}")
    body = {
        "command": " ".join(["python -m ops.bench.http_client", *(argv or sys.argv[1:])]),
        "requests_per_round": a.requests,
        "concurrency": CONCURRENCY,
        "results": results,
        "lines": lines,
    }
    write_report("http_client", body, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
