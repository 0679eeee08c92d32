"""Periodic jobs that several replicas may run: each tick runs on one replica only (advisory lock)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

import logs
from db import locks

YIELD_S = 0.02
MAX_YIELDS = 25  # a burst defers background work by at most half a second per step


async def yield_to(busy: Callable[[], bool]) -> None:
    """While ``busy()`` (a burst of answers, a backlog of deliveries), give it the cores: wait for it to pass,
    at most ``MAX_YIELDS`` short waits, so background work is slowed, never stopped."""
    for _ in range(MAX_YIELDS):
        if not busy():
            return
        await asyncio.sleep(YIELD_S)


@dataclass(frozen=True)
class Job:
    name: str
    interval_s: float
    run: Callable[[asyncpg.Pool], Awaitable[object]]


async def tick(pool: asyncpg.Pool, job: Job) -> bool:
    """Run the job once if no other replica is running it. Returns whether it ran."""
    async with pool.acquire() as conn:
        if not await conn.fetchval(locks.TRY_LOCK, locks.job(job.name)):
            return False
        try:
            await job.run(pool)
        finally:
            await conn.fetchval(locks.UNLOCK, locks.job(job.name))
    return True


async def run_forever(pool: asyncpg.Pool, job: Job) -> None:
    """Tick every ``interval_s``; a failing tick is logged and retried next time, never fatal."""
    while True:
        try:
            await tick(pool, job)
        except asyncio.CancelledError:
            raise
        except Exception:
            logs.event("job.failed", logging.ERROR, exc_info=True, job=job.name)
        await asyncio.sleep(job.interval_s)
