"""One transaction, run again when it lost a race.

A deadlock or serialization failure (``db.errors.TRANSIENT``) rolls the whole transaction back, and
running it again from the start succeeds: ``run_in_transaction`` does that, after a jittered backoff, so
that two transactions which deadlocked once do not meet again in lockstep. Anything else is raised as is.
``fn`` may run more than once: it must do all its work on the connection it is given.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

import logs
from db.errors import TRANSIENT

T = TypeVar("T")
ATTEMPTS = 5
BASE_DELAY_S = 0.02
MAX_DELAY_S = 1.0


def backoff_s(attempt: int, *, base_s: float = BASE_DELAY_S, cap_s: float = MAX_DELAY_S) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap_s, base_s * 2**attempt))


async def run_in_transaction(
    pool: asyncpg.Pool,
    fn: Callable[[asyncpg.Connection], Awaitable[T]],
    *,
    attempts: int = ATTEMPTS,
    name: str = "transaction",
) -> T:
    """``await fn(conn)`` in a transaction on a pooled connection; retried on TRANSIENT errors."""
    for attempt in range(1, attempts + 1):
        try:
            async with pool.acquire() as conn, conn.transaction():
                return await fn(conn)
        except TRANSIENT as exc:
            if attempt >= attempts:
                raise
            delay = backoff_s(attempt)
            logs.event(
                "db.transaction_retried",
                logging.WARNING,
                transaction=name,
                attempt=attempt,
                error=type(exc).__name__,
                delay_s=round(delay, 3),
            )
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
