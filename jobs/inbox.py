"""The webhook inbox: every verified delivery stored once, processed after the answer, and retried.

``store`` settles duplicates with the unique indexes on (source, delivery_id) and (source, body_sha256):
the same signed body under a new delivery id is a replay. A stored delivery is processed by the inbox
workers (``jobs.inbox_worker``), in order per ``order_key``. ``process`` (replay, retries) runs the
router's callbacks for one row and marks it processed in ONE transaction, run again on a deadlock or
serialization failure. When a callback fails, its work is rolled back and the row is left:
- ``failed`` with the error and a next attempt time (backoff, setting ``webhooks.retry``), for
  ``retry_due`` (a scheduler job) or ``python app.py replay``, when retrying may help;
- ``dead`` when it cannot (a body that does not parse, a value PostgreSQL refuses, attempts used up):
  listed by ``python app.py deliveries`` and replayable, never retried by the job.
An error that looks like the database being away (``db.errors.UNAVAILABLE``) is raised only when the
database is in fact unreachable; otherwise it was the delivery's own (an OSError from a date out of range).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

import logs
from db.errors import UNAVAILABLE
from db.transactions import run_in_transaction
from jobs import scheduler
from jobs.routing import Router, WebhookEvent

STORE = """
INSERT INTO webhook_deliveries (source, delivery_id, event_type, action, headers, body, body_sha256, order_key,
                                status, attempts, processed_at)
SELECT $1, $2, $3, $4, $5, $6, sha256($6), $7,
       CASE WHEN $8 THEN 'received' ELSE 'ignored' END, CASE WHEN $8 THEN 0 ELSE 1 END,
       CASE WHEN $8 THEN NULL ELSE now() END
ON CONFLICT DO NOTHING
RETURNING id
"""
# Locks the row: a second processor of the same delivery waits, then finds it no longer pending.
CLAIM = """
SELECT id, source, delivery_id, event_type, action, body, received_at FROM webhook_deliveries
WHERE id = $1 AND status = ANY($2::text[])
FOR UPDATE
"""
PROCESSED = """
UPDATE webhook_deliveries
SET status = $2, processed_at = now(), attempts = attempts + 1, last_error = NULL, next_attempt_at = NULL
WHERE id = $1
"""
FAILED = """
WITH retry AS (
    SELECT coalesce((v->>'max_attempts')::int, 8) AS max_attempts, coalesce((v->>'base_delay_s')::float8, 30) AS base
    FROM (SELECT (SELECT config_value FROM agent_swarm_config WHERE config_key = 'webhooks.retry') AS v) s
)
UPDATE webhook_deliveries
SET status = CASE WHEN $3 OR attempts + 1 >= retry.max_attempts THEN 'dead' ELSE 'failed' END,
    attempts = attempts + 1, last_error = $2,
    next_attempt_at = CASE WHEN $3 OR attempts + 1 >= retry.max_attempts THEN NULL
                           ELSE now() + make_interval(secs => least(retry.base * power(2, attempts), 21600)) END
FROM retry
WHERE id = $1 AND status <> 'processed'
RETURNING status, attempts, next_attempt_at
"""
# Failed ones that are due (received ones, also those a crash left behind, are the inbox workers').
DUE = """
SELECT id FROM webhook_deliveries
WHERE status = 'failed' AND next_attempt_at <= now()
ORDER BY received_at
LIMIT $1
"""
LIST_FAILED = """
SELECT id, source, delivery_id, event_type, action, status, attempts, last_error, received_at, next_attempt_at
FROM webhook_deliveries WHERE status IN ('failed', 'dead') ORDER BY received_at, id
"""
FAILED_IDS = "SELECT id FROM webhook_deliveries WHERE status IN ('failed', 'dead') ORDER BY received_at, id"
PRUNE = """
WITH kept AS (
    SELECT make_interval(days => coalesce((
        SELECT (config_value->>'days')::int FROM agent_swarm_config WHERE config_key = 'webhooks.retention'
    ), 30)) AS span
), gone AS (
    DELETE FROM webhook_deliveries
    WHERE id IN (SELECT id FROM webhook_deliveries, kept
                 WHERE status IN ('processed', 'ignored') AND received_at < now() - kept.span
                 ORDER BY received_at LIMIT $1)
    RETURNING 1
)
SELECT count(*) FROM gone
"""
PING = "SELECT 1"

# What PostgreSQL text and jsonb refuse although JSON allows it: \u0000 and lone UTF-16 surrogates.
UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
# How a body can carry them through json.loads: as an escape, or as bytes that are not strict UTF-8
# (json.loads decodes bytes with surrogatepass; UTF-16 and UTF-32 bodies hold NUL bytes).
UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")

FRESH = ["received"]
RETRYABLE = ["received", "failed"]
REPLAYABLE = ["received", "failed", "dead", "ignored"]
# Failures that happen again on every attempt: a body that does not parse, a value PostgreSQL refuses
# (class 22 data exceptions, e.g. \u0000 or a number out of range; NOT NULL and CHECK violations).
PERMANENT: tuple[type[BaseException], ...] = (
    ValueError,
    asyncpg.DataError,
    asyncpg.NotNullViolationError,
    asyncpg.CheckViolationError,
)
PRUNE_BATCH = 5000
KEPT_HEADERS = ("content-type", "user-agent", "request-id", "sentry-hook-", "x-github-", "linear-")


@dataclass(frozen=True)
class FailedDelivery:
    id: int
    source: str
    delivery_id: str
    event_type: str
    action: str | None
    status: str
    attempts: int
    last_error: str | None
    received_at: datetime
    next_attempt_at: datetime | None


def kept_headers(headers: Any) -> dict[str, str]:
    """The sender's descriptive headers (never its signature), for debugging and replay."""
    return {
        k.lower(): v for k, v in headers.items() if k.lower().startswith(KEPT_HEADERS) and "signature" not in k.lower()
    }


async def store(
    pool: asyncpg.Pool,
    *,
    source: str,
    delivery_id: str,
    event_type: str,
    action: str | None,
    headers: dict[str, str],
    body: bytes,
    order_key: str | None,
    handled: bool,
) -> int | None:
    """The new row's id, or None when (source, delivery_id) was stored before: a duplicate. A delivery
    no callback handles (``handled`` False) is stored ``ignored`` at once: no worker needs to see it.
    One statement, one round trip, its own commit."""
    row_id: int | None = await pool.fetchval(
        STORE, source, delivery_id, event_type, action, headers, body, order_key, handled
    )
    return row_id


def _escape(text: str) -> str:
    return UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def storable(value: Any) -> Any:
    """``value`` with every string (keys too) free of what PostgreSQL text and jsonb refuse: NUL and lone
    surrogates become their visible JSON escape (``\\u0000``). Everything else is returned as it is. Pure."""
    if isinstance(value, str):
        return _escape(value) if UNSTORABLE.search(value) else value
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def may_hold_unstorable(body: bytes) -> bool:
    """Whether ``json.loads(body)`` can hold a string ``storable`` would change. A scan in C: the walk
    itself cost 250 us per delivery of the benchmark's mix, three times the parse. Pure."""
    if b"\x00" in body or UNSTORABLE_ESCAPE.search(body):
        return True
    if body.isascii():
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def event_of(row: asyncpg.Record) -> WebhookEvent:
    """The stored delivery as the router sees it; ValueError when its body is not a JSON object."""
    body = bytes(row["body"])
    payload = json.loads(body)
    if may_hold_unstorable(body):
        payload = storable(payload)
    if not isinstance(payload, dict):
        raise ValueError("the stored body is not a JSON object")
    return WebhookEvent(
        source=row["source"],
        delivery_id=row["delivery_id"],
        event_type=row["event_type"],
        action=row["action"],
        payload=payload,
        received_at=row["received_at"],
    )


async def _reachable(pool: asyncpg.Pool) -> bool:
    try:
        async with asyncio.timeout(5):
            await pool.fetchval(PING)
    except UNAVAILABLE:
        return False
    return True


async def process(pool: asyncpg.Pool, router: Router, row_id: int, statuses: list[str] = FRESH) -> str:
    """Run the delivery's callbacks: 'processed', 'ignored' (no callback), 'failed' (retried later),
    'dead' (not retried), or 'skipped' (not in one of ``statuses``, e.g. processed meanwhile by another
    worker). Raises UNAVAILABLE only while the database cannot be reached."""

    async def attempt(conn: asyncpg.Connection) -> str:
        row = await conn.fetchrow(CLAIM, row_id, statuses)
        if row is None:
            return "skipped"
        known = await router.dispatch(conn, event_of(row))
        outcome = "processed" if known else "ignored"
        await conn.execute(PROCESSED, row_id, outcome)
        return outcome

    try:
        return await run_in_transaction(pool, attempt, name="webhook.process")
    except UNAVAILABLE as exc:
        if not await _reachable(pool):
            raise
        error: BaseException = exc
    except Exception as exc:
        error = exc
    permanent = isinstance(error, PERMANENT)
    failed = await pool.fetchrow(FAILED, row_id, f"{type(error).__name__}: {error}"[:2000], permanent)
    outcome = failed["status"] if failed else "failed"
    logs.event(
        "webhook.processing_failed",
        logging.WARNING,
        delivery=row_id,
        error=repr(error)[:500],
        outcome=outcome,
        attempts=failed["attempts"] if failed else None,
        next_attempt_at=failed["next_attempt_at"] if failed else None,
    )
    return str(outcome)


async def retry_due(pool: asyncpg.Pool, router: Router, limit: int = 50) -> dict[str, int]:
    """Reprocess deliveries that are due (the scheduler job's tick)."""
    outcomes: dict[str, int] = {}
    for record in await pool.fetch(DUE, limit):
        outcome = await process(pool, router, record["id"], RETRYABLE)  # a delivery's failure stays its own
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if outcomes:
        logs.event("webhook.retried", outcomes=outcomes)
    return outcomes


async def list_failed(pool: asyncpg.Pool) -> list[FailedDelivery]:
    return [FailedDelivery(**dict(r)) for r in await pool.fetch(LIST_FAILED)]


async def replay(pool: asyncpg.Pool, router: Router, ids: list[int] | None) -> dict[int, str]:
    """Reprocess the given deliveries (or every failed one when ``ids`` is None), now."""
    targets = ids if ids is not None else [r["id"] for r in await pool.fetch(FAILED_IDS)]
    return {row_id: await process(pool, router, row_id, REPLAYABLE) for row_id in targets}


def retry_job(router: Router, interval_s: float = 30) -> scheduler.Job:
    async def run(pool: asyncpg.Pool) -> object:
        return await retry_due(pool, router)

    return scheduler.Job("webhook_deliveries.retry", interval_s, run)


async def prune(pool: asyncpg.Pool, batch: int = PRUNE_BATCH) -> int:
    """Delete processed and ignored deliveries older than setting ``webhooks.retention`` (in batches)."""
    total = 0
    while (deleted := await pool.fetchval(PRUNE, batch)) > 0:
        total += deleted
        if deleted < batch:
            break
    if total:
        logs.event("webhook.pruned", deleted=total)
    return total


def retention_job(interval_s: float = 3600) -> scheduler.Job:
    async def run(pool: asyncpg.Pool) -> object:
        return await prune(pool)

    return scheduler.Job("webhook_deliveries.retention", interval_s, run)
