"""The load generator: closed loop for a ceiling, open loop (timed from each request's intended send
time, so a slow server cannot slow the clock down: no coordinated omission) for latencies at a rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from bench.mix import Delivery, Sent


@dataclass
class Result:
    sent: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s else 0.0

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def _post(session: aiohttp.ClientSession, base: str, delivery: Delivery, sent: Sent | None) -> int:
    try:
        async with session.post(base + delivery.path, data=delivery.body, headers=delivery.headers) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError):
        status = 0
    if sent is not None:
        sent.record(delivery, status)
    return status


def _session(connections: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))


async def closed_loop(
    base: str, deliveries: Sequence[Delivery], *, connections: int, duration_s: float, sent: Sent | None = None
) -> Result:
    """``connections`` senders, each sending its next delivery as soon as the last is answered, for
    ``duration_s`` or until ``deliveries`` run out."""
    result = Result()
    queue = iter(deliveries)
    deadline = time.perf_counter() + duration_s

    async def sender(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            delivery = next(queue, None)
            if delivery is None:
                return
            began = time.perf_counter()
            status = await _post(session, base, delivery, sent)
            result.latencies_ms.append((time.perf_counter() - began) * 1000)
            result.sent += 1
            result.errors += not 200 <= status < 300

    async with _session(connections) as session:
        began = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(connections)))
        result.elapsed_s = time.perf_counter() - began
    return result


async def open_loop(
    base: str, deliveries: Sequence[Delivery], *, rate: float, connections: int = 64, sent: Sent | None = None
) -> Result:
    """Send ``deliveries`` at ``rate`` per second; each latency runs from the intended send time."""
    result = Result()
    async with _session(connections) as session:
        start = time.perf_counter() + 0.05
        tasks = []

        async def one(delivery: Delivery, intended: float) -> None:
            status = await _post(session, base, delivery, sent)
            result.latencies_ms.append((time.perf_counter() - intended) * 1000)
            result.errors += not 200 <= status < 300

        for i, delivery in enumerate(deliveries):
            intended = start + i / rate
            delay = intended - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(delivery, intended)))
            result.sent += 1
        await asyncio.gather(*tasks)
        result.elapsed_s = time.perf_counter() - start
    return result
