"""The webhook inbox: every verified delivery stored once, processed in a transaction, and retried.

``store`` settles duplicates with the unique (source, delivery_id) index. ``process`` runs the router's
callbacks and marks the row processed in ONE transaction; when a callback fails the transaction is
rolled back and the row is left ``failed`` with the error and a next attempt time, for ``retry_due``
(a scheduler job) or ``python app.py replay``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

import logs
from db.errors import UNAVAILABLE
from jobs import scheduler
from jobs.routing import Router, WebhookEvent

STORE = """
INSERT INTO webhook_deliveries (source, delivery_id, event_type, action, headers, body)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (source, delivery_id) DO NOTHING
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
SET status = 'failed', attempts = attempts + 1, last_error = $2,
    next_attempt_at = CASE WHEN attempts + 1 >= retry.max_attempts THEN NULL
                           ELSE now() + make_interval(secs => least(retry.base * power(2, attempts), 21600)) END
FROM retry
WHERE id = $1 AND status <> 'processed'
RETURNING attempts, next_attempt_at
"""
# Failed ones that are due, and received ones left behind (the process died before finishing them).
DUE = """
SELECT id FROM webhook_deliveries
WHERE (status = 'failed' AND next_attempt_at <= now())
   OR (status = 'received' AND received_at < now() - interval '2 minutes')
ORDER BY received_at
LIMIT $1
"""
LIST_FAILED = """
SELECT id, source, delivery_id, event_type, action, attempts, last_error, received_at, next_attempt_at
FROM webhook_deliveries WHERE status = 'failed' ORDER BY received_at
"""
FAILED_IDS = "SELECT id FROM webhook_deliveries WHERE status = 'failed' ORDER BY received_at"

FRESH = ["received"]
RETRYABLE = ["received", "failed"]
REPLAYABLE = ["received", "failed", "ignored"]
KEPT_HEADERS = ("content-type", "user-agent", "request-id", "sentry-hook-", "x-github-", "linear-")


@dataclass(frozen=True)
class FailedDelivery:
    id: int
    source: str
    delivery_id: str
    event_type: str
    action: str | None
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
) -> int | None:
    """The new row's id, or None when (source, delivery_id) was stored before: a duplicate."""
    row_id: int | None = await pool.fetchval(STORE, source, delivery_id, event_type, action, headers, body)
    return row_id


def _event(row: asyncpg.Record) -> WebhookEvent:
    payload = json.loads(bytes(row["body"]))
    return WebhookEvent(
        source=row["source"],
        delivery_id=row["delivery_id"],
        event_type=row["event_type"],
        action=row["action"],
        payload=payload,
        received_at=row["received_at"],
    )


async def process(pool: asyncpg.Pool, router: Router, row_id: int, statuses: list[str] = FRESH) -> str:
    """Run the delivery's callbacks: 'processed', 'ignored' (no callback), 'failed', or 'skipped' (not
    in one of ``statuses``, e.g. processed meanwhile by another worker)."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(CLAIM, row_id, statuses)
            if row is None:
                return "skipped"
            event = _event(row)
            known = await router.dispatch(conn, event)
            await conn.execute(PROCESSED, row_id, "processed" if known else "ignored")
            return "processed" if known else "ignored"
    except UNAVAILABLE:
        raise
    except Exception as exc:
        failed = await pool.fetchrow(FAILED, row_id, f"{type(exc).__name__}: {exc}"[:2000])
        logs.event(
            "webhook.processing_failed",
            logging.WARNING,
            delivery=row_id,
            error=repr(exc)[:500],
            attempts=failed["attempts"] if failed else None,
            next_attempt_at=failed["next_attempt_at"] if failed else None,
        )
        return "failed"


async def retry_due(pool: asyncpg.Pool, router: Router, limit: int = 50) -> dict[str, int]:
    """Reprocess deliveries that are due (the scheduler job's tick)."""
    outcomes: dict[str, int] = {}
    for record in await pool.fetch(DUE, limit):
        outcome = await process(pool, router, record["id"], RETRYABLE)
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
