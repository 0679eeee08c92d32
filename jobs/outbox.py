"""The outbox: outbound calls written with the change that needs them, delivered here with retries.

Each concept gives its handlers per ``kind`` to ``jobs.wiring.Wiring`` in its ``setup``. A handler
raises ``RetryLater`` for rate limits and for work that must wait (a missing credential, a parent
message not posted yet), any other exception for a failure that is retried with exponential backoff
until ``MAX_ATTEMPTS``. Rows are claimed with a lease under ``FOR UPDATE SKIP LOCKED``, so several
replicas never deliver the same row at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg

import logs
from config import Config

CHANNEL = "outbox"  # NOTIFY on insert (0005_inbox_outbox.sql)
MAX_ATTEMPTS = 12
LEASE_S = 120
BATCH = 16

ENQUEUE = """
INSERT INTO outbox (kind, payload, dedupe_key, next_attempt_at)
VALUES ($1, $2, $3, now() + make_interval(secs => $4))
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id
"""
CLAIM = """
UPDATE outbox SET attempts = attempts + 1, locked_until = now() + make_interval(secs => $2)
WHERE id IN (
    SELECT id FROM outbox
    WHERE status = 'pending' AND next_attempt_at <= now()
      AND (locked_until IS NULL OR locked_until < now())
    ORDER BY next_attempt_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, kind, payload, attempts
"""
DONE = """
UPDATE outbox SET status = 'done', done_at = now(), locked_until = NULL, result = $2, last_error = NULL
WHERE id = $1
"""
DEAD = "UPDATE outbox SET status = 'dead', locked_until = NULL, last_error = $2 WHERE id = $1"
RETRY = """
UPDATE outbox
SET next_attempt_at = now() + make_interval(secs => $2), locked_until = NULL, last_error = $3,
    attempts = attempts - $4::int,
    status = CASE WHEN attempts - $4::int >= $5 THEN 'dead' ELSE 'pending' END
WHERE id = $1
RETURNING status
"""
# A person's "Retry now" (the console): a waiting row is due at once; a dead one gets a fresh set of attempts.
RETRY_NOW = """
UPDATE outbox SET next_attempt_at = now(), locked_until = NULL, status = 'pending',
    attempts = CASE WHEN status = 'dead' THEN 0 ELSE attempts END
WHERE id = $1 AND status IN ('pending', 'dead') AND (locked_until IS NULL OR locked_until < now())
RETURNING id
"""


class RetryLater(Exception):
    """Try again after ``after_s`` seconds; does not count as a failed attempt."""

    def __init__(self, after_s: float, reason: str) -> None:
        super().__init__(reason)
        self.after_s = after_s


@dataclass
class Context:
    """What handlers get: the owner pool, the config, and a cache for their API clients."""

    pool: asyncpg.Pool
    config: Config
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    clients: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Context, dict[str, Any]], Awaitable[Any]]


async def enqueue(
    conn: asyncpg.Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    delay_s: float = 0,
) -> int | None:
    """Queue an outbound call in the caller's transaction. None when ``dedupe_key`` was queued before."""
    row_id: int | None = await conn.fetchval(ENQUEUE, kind, payload, dedupe_key, float(delay_s))
    return row_id


async def retry_now(conn: asyncpg.Connection, row_id: int) -> bool:
    """Make a pending or dead row due now (not one a worker holds); False when there is no such row."""
    return await conn.fetchval(RETRY_NOW, row_id) is not None


def backoff_s(attempts: int) -> float:
    """Exponential backoff with jitter: about 2, 4, 8 ... seconds, at most 15 minutes."""
    return float(min(2**attempts, 900) * random.uniform(0.8, 1.2))


async def _deliver(ctx: Context, row: asyncpg.Record) -> None:
    kind, attempts = row["kind"], row["attempts"]
    fields = {"outbox_id": row["id"], "kind": kind, "attempt": attempts}
    try:
        fn = ctx.handlers.get(kind)
        if fn is None:
            error = f"no outbox handler registered for {kind!r}"
            await ctx.pool.execute(DEAD, row["id"], error)
            logs.event("outbox.dead", logging.ERROR, error=error, **fields)
            return
        result = await fn(ctx, row["payload"])
    except RetryLater as exc:
        logs.event("outbox.retry_later", after_s=exc.after_s, reason=str(exc), **fields)
        await ctx.pool.fetchval(RETRY, row["id"], exc.after_s, str(exc), 1, MAX_ATTEMPTS)
    except Exception as exc:
        status = await ctx.pool.fetchval(RETRY, row["id"], backoff_s(attempts), repr(exc), 0, MAX_ATTEMPTS)
        logs.event("outbox.failed", logging.WARNING, error=repr(exc), status=status, **fields)
    else:
        await ctx.pool.execute(DONE, row["id"], json.loads(json.dumps(result, default=str)))
        logs.event("outbox.delivered", **fields)


async def deliver_due(ctx: Context, limit: int = BATCH) -> int:
    """Claim and deliver what is due now, concurrently. Returns how many rows were claimed."""
    rows = await ctx.pool.fetch(CLAIM, limit, float(LEASE_S))
    await asyncio.gather(*(_deliver(ctx, row) for row in rows))
    return len(rows)


async def run_worker(ctx: Context, wake: asyncio.Event, poll_s: float = 1.0) -> None:
    """Deliver forever: woken by ``wake`` (the hub's NOTIFY on insert, channel ``outbox``), and every
    ``poll_s`` for retries that fall due and for whatever a lost notification would have said."""
    while True:
        wake.clear()
        try:
            while await deliver_due(ctx) == BATCH:
                pass
        except asyncio.CancelledError:
            raise
        except Exception:
            logs.event("outbox.pass_failed", logging.ERROR, exc_info=True)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(poll_s):  # not wait_for: 3.11's can swallow a cancellation
                await wake.wait()
