"""The outbox: outbound calls written with the change that needs them, delivered here with retries.

Each concept gives its handlers per ``kind`` to ``jobs.wiring.Wiring`` in its ``setup``. A handler
raises ``RetryLater`` for rate limits and for work that must wait (a missing credential, a parent
message not posted yet): it does not count as an attempt and never sleeps inside a batch. ``Permanent``
is a failure that cannot heal by waiting (a 4xx, Slack's ``channel_not_found``): the row goes ``dead``
at once with its error, listed by ``list_dead`` and put back by ``requeue``. Anything else is transient
(timeouts, connection errors, 5xx) and retried with exponential backoff until ``MAX_ATTEMPTS``.

Rows are claimed under ``FOR UPDATE SKIP LOCKED`` with a lease: a fresh token and ``locked_until``.
Every outcome is written only while the row is still held by that claim (``lease = $2``), so a worker
whose lease expired, after another replica claimed the row, cannot mark it done, retried or dead.
A claim with ``attempts > 1`` follows an attempt whose outcome is unknown (it crashed, timed out or
failed after it may have sent): ``in_doubt()`` tells handlers to look for what it sent before sending
again.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

import logs
from config import Config
from jobs import scheduler

CHANNEL = "outbox"  # NOTIFY on insert (0005_inbox_outbox.sql)
MAX_ATTEMPTS = 12
LEASE_S = 120
HANDLER_TIMEOUT_S = 60  # well inside the lease: a claim's work ends before another replica may take it
BATCH = 16
RETENTION_KEY = "outbox.retention"
DEFAULT_RETENTION_DAYS = 7
PRUNE_BATCH = 5000

ENQUEUE = """
INSERT INTO outbox (kind, payload, dedupe_key, next_attempt_at)
VALUES ($1, $2, $3, now() + make_interval(secs => $4))
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id
"""
# The same, for a domain statement that opens a row and queues its calls at once: ``rows`` is a SELECT (or
# VALUES) of (kind, payload, dedupe_key), e.g. over a data-modifying CTE's RETURNING.
ENQUEUE_ROWS = """
INSERT INTO outbox (kind, payload, dedupe_key, next_attempt_at)
SELECT kind, payload, dedupe_key, now() FROM ({rows}) AS queued(kind, payload, dedupe_key)
ON CONFLICT (dedupe_key) DO NOTHING
"""
CLAIM = """
UPDATE outbox SET attempts = attempts + 1, locked_until = now() + make_interval(secs => $2),
    lease = gen_random_uuid()
WHERE id IN (
    SELECT id FROM outbox
    WHERE status = 'pending' AND next_attempt_at <= now()
      AND (locked_until IS NULL OR locked_until < now())
    ORDER BY next_attempt_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, kind, payload, attempts, lease
"""
# Outcomes apply only while the row is held by the claim that produced them.
SETTLE = "status = 'done', done_at = now(), locked_until = NULL, lease = NULL, last_error = NULL"
# A batch's successes in one statement (results as JSON text), returning the ids still held; first the locks
# $4 of their writes (db/locks.py keys), in ``locks.xact_lock_all``'s order, so two lockers never deadlock.
DONE = f"""
WITH locked AS (SELECT count(pg_advisory_xact_lock(hashtextextended(key, 0))) AS n
                FROM (SELECT key FROM unnest($4::text[]) AS key ORDER BY key COLLATE "C") AS sorted)
UPDATE outbox AS o SET {SETTLE}, result = d.result::jsonb
FROM unnest($1::bigint[], $2::uuid[], $3::text[]) AS d(id, lease, result)
WHERE o.id = d.id AND o.lease = d.lease AND o.status = 'pending' AND (SELECT n FROM locked) >= 0
RETURNING o.id
"""
# One row settled inside a handler's own statement (``Done.settle``): $1 id, $2 lease, $3 result as JSON text.
SETTLED = f"""settled AS (
    UPDATE outbox SET {SETTLE}, result = $3::text::jsonb
    WHERE id = $1 AND lease = $2 AND status = 'pending'
    RETURNING id
)"""
DEAD = """
UPDATE outbox SET status = 'dead', locked_until = NULL, lease = NULL, last_error = $3
WHERE id = $1 AND lease = $2 AND status = 'pending'
RETURNING status
"""
RETRY = """
UPDATE outbox
SET next_attempt_at = now() + make_interval(secs => $3), locked_until = NULL, lease = NULL, last_error = $4,
    attempts = attempts - $5::int,
    status = CASE WHEN attempts - $5::int >= $6 THEN 'dead' ELSE 'pending' END
WHERE id = $1 AND lease = $2 AND status = 'pending'
RETURNING status
"""
# A person's "Retry now" (the console): a waiting row is due at once; a dead one gets a fresh set of attempts.
RETRY_NOW = """
UPDATE outbox SET next_attempt_at = now(), locked_until = NULL, status = 'pending',
    attempts = CASE WHEN status = 'dead' THEN 0 ELSE attempts END
WHERE id = $1 AND status IN ('pending', 'dead') AND (locked_until IS NULL OR locked_until < now())
RETURNING id
"""
LIST_DEAD = """
SELECT id, kind, dedupe_key, attempts, last_error, created_at, payload FROM outbox
WHERE status = 'dead' ORDER BY id
"""
REQUEUE = """
UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = now(), locked_until = NULL, lease = NULL
WHERE status = 'dead' AND ($1::bigint[] IS NULL OR id = ANY($1))
RETURNING id
"""
RETENTION = "SELECT config_value FROM agent_swarm_config WHERE config_key = $1"
# Oldest first, a batch per statement, so a big backlog never holds one long transaction.
PRUNE = """
DELETE FROM outbox WHERE id IN (
    SELECT id FROM outbox WHERE status = 'done' AND done_at < now() - $1::interval
    ORDER BY done_at LIMIT $2
)
"""


class RetryLater(Exception):
    """Try again after ``after_s`` seconds; does not count as a failed attempt."""

    def __init__(self, after_s: float, reason: str) -> None:
        super().__init__(reason)
        self.after_s = after_s


class Permanent(Exception):
    """A failure waiting cannot heal: the row goes ``dead`` with this error, never retried blindly."""


@dataclass
class Context:
    """What handlers get: the owner pool, the config, and a cache for their API clients."""

    pool: asyncpg.Pool
    config: Config
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    clients: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Context, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Done:
    """A handler's result (a plain value is ``Done(value)``) with the writes that record it, run with the
    row's done and only while its claim holds it: the advisory ``locks`` (db/locks.py keys), then ``writes``
    as (SQL, args), in a transaction; or ``settle``, one statement (args from $4) that settles the row
    through the CTE ``SETTLED``, writes only if ``settled`` returned it, and returns its id (no lock)."""

    result: Any
    writes: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    locks: tuple[str, ...] = ()
    settle: tuple[str, tuple[Any, ...]] | None = None

    @property
    def plain(self) -> bool:
        return not self.writes and not self.locks and self.settle is None


@dataclass(frozen=True)
class Claim:
    """The claim a handler runs under (a context variable, set per delivered row)."""

    id: int
    kind: str
    attempts: int
    lease: uuid.UUID


@dataclass(frozen=True)
class DeadRow:
    id: int
    kind: str
    dedupe_key: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    payload: dict[str, Any]


_claim: contextvars.ContextVar[Claim | None] = contextvars.ContextVar("outbox_claim", default=None)


def current() -> Claim | None:
    """The claim of the row being delivered, or None outside the worker."""
    return _claim.get()


def in_doubt() -> bool:
    """Whether an earlier attempt at this row may have sent it (it crashed, timed out or failed after
    starting): a handler then looks for its earlier message before sending again."""
    claim = _claim.get()
    return claim is not None and claim.attempts > 1


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


async def _settle(ctx: Context, claim: Claim, sql: str, *args: Any) -> str | None:
    """Write an outcome if the claim still holds the row; log when another claim has taken it."""
    status: str | None = await ctx.pool.fetchval(sql, claim.id, claim.lease, *args)
    if status is None:
        _fenced_out(claim)
    return status


def _fenced_out(claim: Claim) -> None:
    logs.event("outbox.fenced_out", logging.WARNING, outbox_id=claim.id, kind=claim.kind, attempt=claim.attempts)


async def _deliver(ctx: Context, row: asyncpg.Record) -> tuple[Claim, Done] | None:
    """Run the row's handler and settle a failure at once; a success is returned for ``deliver_due`` to
    settle with the rest of its batch."""
    claim = Claim(row["id"], row["kind"], row["attempts"], row["lease"])
    fields: dict[str, Any] = {"outbox_id": claim.id, "kind": claim.kind, "attempt": claim.attempts}
    token = _claim.set(claim)
    try:
        fn = ctx.handlers.get(claim.kind)
        if fn is None:
            raise Permanent(f"no outbox handler registered for {claim.kind!r}")
        async with asyncio.timeout(HANDLER_TIMEOUT_S):
            result = await fn(ctx, row["payload"])
    except RetryLater as exc:
        logs.event("outbox.retry_later", after_s=exc.after_s, reason=str(exc), **fields)
        await _settle(ctx, claim, RETRY, float(exc.after_s), str(exc), 1, MAX_ATTEMPTS)
    except Permanent as exc:
        error = str(exc)[:2000]
        if await _settle(ctx, claim, DEAD, error):
            logs.event("outbox.dead", logging.ERROR, error=error, **fields)
    except Exception as exc:
        error = repr(exc)[:2000]
        status = await _settle(ctx, claim, RETRY, backoff_s(claim.attempts), error, 0, MAX_ATTEMPTS)
        logs.event("outbox.failed", logging.WARNING, error=error, status=status, **fields)
    else:
        return claim, result if isinstance(result, Done) else Done(result)
    finally:
        _claim.reset(token)
    return None


def _json(result: Any) -> str | None:
    return None if result is None else json.dumps(result, default=str)


async def _settle_done(pool: asyncpg.Pool, done: list[tuple[Claim, Done]]) -> set[int]:
    """Mark ``done`` rows done and run their writes, in one transaction (a ``settle`` row alone, in its own
    statement); the ids still held are returned."""
    ids, leases, results = [c.id for c, _ in done], [c.lease for c, _ in done], [_json(d.result) for _, d in done]
    if len(done) == 1 and done[0][1].settle is not None:
        sql, args = done[0][1].settle
        return {r["id"] for r in await pool.fetch(sql, ids[0], leases[0], results[0], *args)}
    keys = sorted({key for _, d in done for key in d.locks})
    if not keys and not any(d.writes for _, d in done):
        return {r["id"] for r in await pool.fetch(DONE, ids, leases, results, keys)}
    async with pool.acquire() as conn, conn.transaction():
        settled = {r["id"] for r in await conn.fetch(DONE, ids, leases, results, keys)}
        writes: dict[str, list[tuple[Any, ...]]] = {}
        for claim, outcome in done:
            if claim.id in settled:
                for sql, args in outcome.writes:
                    writes.setdefault(sql, []).append(args)
        for sql, rows in writes.items():
            await conn.executemany(sql, rows)
    return settled


async def _settle_each(ctx: Context, done: list[tuple[Claim, Done]]) -> tuple[set[int], set[int]]:
    """Each row alone, so one failing write holds back only its own row, which is retried with backoff like
    a failed handler. Returns the ids settled done and failed."""
    settled: set[int] = set()
    failed: set[int] = set()
    for claim, outcome in done:
        try:
            settled |= await _settle_done(ctx.pool, [(claim, outcome)])
        except Exception as exc:
            failed.add(claim.id)
            error = repr(exc)[:2000]
            status = await _settle(ctx, claim, RETRY, backoff_s(claim.attempts), error, 0, MAX_ATTEMPTS)
            logs.event(
                "outbox.failed", logging.WARNING, error=error, status=status, outbox_id=claim.id, kind=claim.kind
            )
    return settled, failed


async def deliver_due(ctx: Context, limit: int = BATCH) -> int:
    """Claim and deliver what is due now, concurrently; once the batch's handlers have all returned (each
    handler's time is bounded well inside the lease, so the claims still hold), the successes without writes
    are marked done in one statement, and each success with writes in a transaction (or a statement) of its
    own. Returns how many rows were claimed."""
    rows = await ctx.pool.fetch(CLAIM, limit, float(LEASE_S))
    if not rows:
        return 0
    done = [d for d in await asyncio.gather(*(_deliver(ctx, row) for row in rows)) if d is not None]
    plain = [d for d in done if d[1].plain]
    settled: set[int] = set()
    failed: set[int] = set()
    try:
        settled = await _settle_done(ctx.pool, plain) if plain else set()
    except (asyncpg.PostgresError, ValueError, TypeError) as exc:
        logs.event("outbox.batch_settle_failed", logging.WARNING, error=repr(exc)[:2000], rows=len(plain))
        settled, failed = await _settle_each(ctx, plain)
    # Each row with writes alone: batched, one row's write held an incident's row while the next waited on an
    # inbox batch waiting for it, a deadlock PostgreSQL finds after 1 s (deadlock_timeout), stalling both.
    written, lost = await _settle_each(ctx, [d for d in done if not d[1].plain])
    settled |= written
    failed |= lost
    for claim, _ in done:
        if claim.id in settled:
            logs.event("outbox.delivered", outbox_id=claim.id, kind=claim.kind, attempt=claim.attempts)
        elif claim.id not in failed:
            _fenced_out(claim)
    return len(rows)


async def run_worker(
    ctx: Context, wake: asyncio.Event, poll_s: float = 1.0, busy: Callable[[], bool] = lambda: False
) -> None:
    """Deliver forever: woken by ``wake`` (the hub's NOTIFY on insert, channel ``outbox``), and every
    ``poll_s`` for retries that fall due and for whatever a lost notification would have said. Each batch
    waits for a burst of answers to pass first (``busy``), for at most half a second."""
    while True:
        wake.clear()
        try:
            await scheduler.yield_to(busy)
            while await deliver_due(ctx) == BATCH:
                await scheduler.yield_to(busy)
        except asyncio.CancelledError:
            raise
        except Exception:
            logs.event("outbox.pass_failed", logging.ERROR, exc_info=True)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(poll_s):  # not wait_for: 3.11's can swallow a cancellation
                await wake.wait()


async def list_dead(pool: asyncpg.Pool) -> list[DeadRow]:
    """Rows that failed for good (a permanent error, or out of attempts), oldest first."""
    return [DeadRow(**dict(r)) for r in await pool.fetch(LIST_DEAD)]


async def requeue(pool: asyncpg.Pool, ids: list[int] | None) -> list[int]:
    """Put dead rows (the given ones, or all with None) back in the queue, due now, with fresh attempts."""
    return [r["id"] for r in await pool.fetch(REQUEUE, ids)]


async def prune(pool: asyncpg.Pool) -> int:
    """Delete ``done`` rows older than the setting ``outbox.retention`` (days). Returns how many."""
    setting = await pool.fetchval(RETENTION, RETENTION_KEY)
    days = (setting or {}).get("done_days", DEFAULT_RETENTION_DAYS) if isinstance(setting, dict) else None
    keep = timedelta(days=int(days or DEFAULT_RETENTION_DAYS))
    total = 0
    while True:
        deleted = int((await pool.execute(PRUNE, keep, PRUNE_BATCH)).split()[-1])
        total += deleted
        if deleted < PRUNE_BATCH:
            break
    if total:
        logs.event("outbox.pruned", deleted=total, older_than_days=keep.days)
    return total


def retention_job(interval_s: float = 3600) -> scheduler.Job:
    """The scheduler job that prunes finished rows (one replica per tick)."""

    async def run(pool: asyncpg.Pool) -> object:
        return await prune(pool)

    return scheduler.Job("outbox.retention", interval_s, run)
