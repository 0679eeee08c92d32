"""Hourly ``agent_metrics``: one row per agent and UTC hour, rolled by ONE upsert statement.

Definitions (all from ``agent_actions`` and ``infrastructure_incidents``):
- actions_total / successful / failed: the agent's actions created in the hour (``success`` true / false).
- avg_execution_time_ms: the mean of ``execution_time_ms``; p50/p95/p99 are PostgreSQL
  ``percentile_cont`` (continuous: linear interpolation between the two nearest values); all four are
  rounded half away from zero to whole milliseconds; actions without a time are left out of them.
- An incident belongs to the agent of the FIRST action that references it (``incident_id``; ties by id)
  and is counted in that action's hour: ``incidents_detected``.
  - auto-resolved: resolved (``resolved_at`` set) by an agent (``resolved_by`` is the name of an agent
    that acted on it) and no action on it needed an approval (``requires_approval``).
  - escalated: some action on it needed an approval, or a human resolved it (``resolved_by`` is not an
    agent that acted on it).
  - mttr_ms: the mean time to resolve of its resolved incidents: ``time_to_resolve_ms`` when set, else
    ``resolved_at - created_at``, rounded to whole milliseconds, and kept within [0, 2^31 - 1] (the column
    is an integer: 24.8 days at most).
Rerunning an hour gives the same row (upsert on (bucket_start, agent_name)); a (bucket, agent) pair that
no longer has actions is deleted in the same statement. Which hours to roll: triggers mark an hour dirty
(``agent_metrics_dirty``) when an action is inserted, changed or deleted in it, or when an incident
whose first action lies in it is resolved; the job rolls the dirty hours (a late action re-rolls its hour),
each in its own transaction: an hour that fails stays dirty with its error, is logged, and is tried again
after the others, which roll.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg

import logs
from db import locks
from db.errors import UNAVAILABLE
from db.transactions import run_in_transaction
from jobs import scheduler

HOUR = timedelta(hours=1)

ROLLUP = """
WITH actions AS (
    SELECT a.agent_name, a.success, a.execution_time_ms, date_trunc('hour', a.created_at, 'UTC') AS bucket
    FROM agent_actions a
    WHERE a.created_at >= $1 AND a.created_at < $2
),
action_stats AS (
    SELECT bucket, agent_name,
           count(*) AS total,
           count(*) FILTER (WHERE success) AS succeeded,
           count(*) FILTER (WHERE NOT success) AS failed,
           round(avg(execution_time_ms)) AS avg_ms,
           round(percentile_cont(0.50) WITHIN GROUP (ORDER BY execution_time_ms)::numeric) AS p50,
           round(percentile_cont(0.95) WITHIN GROUP (ORDER BY execution_time_ms)::numeric) AS p95,
           round(percentile_cont(0.99) WITHIN GROUP (ORDER BY execution_time_ms)::numeric) AS p99
    FROM actions
    GROUP BY bucket, agent_name
),
firsts AS (
    SELECT DISTINCT ON (a.incident_id) a.incident_id, a.agent_name, date_trunc('hour', a.created_at, 'UTC') AS bucket
    FROM agent_actions a
    WHERE a.incident_id IN (
        SELECT incident_id FROM agent_actions WHERE created_at >= $1 AND created_at < $2 AND incident_id IS NOT NULL
    )
    ORDER BY a.incident_id, a.created_at, a.id
),
incidents AS (
    SELECT f.bucket, f.agent_name, i.resolved_at IS NOT NULL AS resolved,
           EXISTS (SELECT 1 FROM agent_actions x WHERE x.incident_id = i.id AND x.requires_approval) AS approval,
           EXISTS (SELECT 1 FROM agent_actions x WHERE x.incident_id = i.id AND x.agent_name = i.resolved_by)
               AS by_agent,
           coalesce(i.time_to_resolve_ms::numeric,
                    round(extract(epoch FROM i.resolved_at - i.created_at) * 1000)) AS ttr_ms
    FROM firsts f
    JOIN infrastructure_incidents i ON i.id = f.incident_id
    WHERE f.bucket >= $1 AND f.bucket < $2
),
incident_stats AS (
    SELECT bucket, agent_name,
           count(*) AS detected,
           count(*) FILTER (WHERE resolved AND by_agent AND NOT approval) AS auto_resolved,
           count(*) FILTER (WHERE approval OR (resolved AND NOT by_agent)) AS escalated,
           least(greatest(round(avg(ttr_ms) FILTER (WHERE resolved)), 0), 2147483647) AS mttr
    FROM incidents
    GROUP BY bucket, agent_name
),
upserted AS (
    INSERT INTO agent_metrics (
        bucket_start, bucket_end, agent_name, actions_total, actions_successful, actions_failed,
        avg_execution_time_ms, p50_execution_time_ms, p95_execution_time_ms, p99_execution_time_ms,
        incidents_detected, incidents_auto_resolved, incidents_escalated, mttr_ms
    )
    SELECT s.bucket, s.bucket + interval '1 hour', s.agent_name, s.total, s.succeeded, s.failed,
           s.avg_ms, s.p50, s.p95, s.p99,
           coalesce(i.detected, 0), coalesce(i.auto_resolved, 0), coalesce(i.escalated, 0), i.mttr
    FROM action_stats s
    LEFT JOIN incident_stats i ON i.bucket = s.bucket AND i.agent_name = s.agent_name
    ORDER BY s.bucket, s.agent_name
    ON CONFLICT (bucket_start, agent_name) DO UPDATE SET
        bucket_end = EXCLUDED.bucket_end,
        actions_total = EXCLUDED.actions_total,
        actions_successful = EXCLUDED.actions_successful,
        actions_failed = EXCLUDED.actions_failed,
        avg_execution_time_ms = EXCLUDED.avg_execution_time_ms,
        p50_execution_time_ms = EXCLUDED.p50_execution_time_ms,
        p95_execution_time_ms = EXCLUDED.p95_execution_time_ms,
        p99_execution_time_ms = EXCLUDED.p99_execution_time_ms,
        incidents_detected = EXCLUDED.incidents_detected,
        incidents_auto_resolved = EXCLUDED.incidents_auto_resolved,
        incidents_escalated = EXCLUDED.incidents_escalated,
        mttr_ms = EXCLUDED.mttr_ms
    RETURNING 1
),
removed AS (
    DELETE FROM agent_metrics m
    WHERE m.bucket_start >= $1 AND m.bucket_start < $2
      AND NOT EXISTS (SELECT 1 FROM action_stats s WHERE s.bucket = m.bucket_start AND s.agent_name = m.agent_name)
    RETURNING 1
)
SELECT (SELECT count(*) FROM upserted) AS upserted, (SELECT count(*) FROM removed) AS removed
"""
DIRTY = "SELECT bucket_start FROM agent_metrics_dirty ORDER BY failed_at NULLS FIRST, bucket_start LIMIT $1"
CLAIM_HOUR = "DELETE FROM agent_metrics_dirty WHERE bucket_start = $1 RETURNING bucket_start"
HOUR_FAILED = "UPDATE agent_metrics_dirty SET failed_at = now(), last_error = $2 WHERE bucket_start = $1"
DIRTY_BATCH = 500
LIST = """
SELECT bucket_start, bucket_end, agent_name, actions_total, actions_successful, actions_failed,
       avg_execution_time_ms, p50_execution_time_ms, p95_execution_time_ms, p99_execution_time_ms,
       incidents_detected, incidents_auto_resolved, incidents_escalated, mttr_ms
FROM agent_metrics
WHERE ($1::timestamptz IS NULL OR bucket_start >= $1) AND ($2::timestamptz IS NULL OR bucket_start < $2)
  AND ($3::text IS NULL OR agent_name = $3)
ORDER BY bucket_start, agent_name
LIMIT $4
"""


@dataclass(frozen=True)
class Rolled:
    upserted: int
    removed: int


def hours(start: datetime, end: datetime) -> list[datetime]:
    """The UTC hour starts covering [start, end). Pure."""
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    out = []
    while first < end:
        out.append(first)
        first += HOUR
    return out


async def rollup(conn: asyncpg.Connection, start: datetime, end: datetime) -> Rolled:
    """Roll every hour in [start, end) (hour-aligned) in one statement, serialised with other rollers."""
    async with conn.transaction():
        await locks.xact_lock(conn, locks.METRICS_ROLLUP)
        row = await conn.fetchrow(ROLLUP, start, end)
    return Rolled(upserted=row["upserted"], removed=row["removed"])


async def _roll_hour(conn: asyncpg.Connection, hour: datetime) -> bool:
    await locks.xact_lock(conn, locks.METRICS_ROLLUP)
    if await conn.fetchval(CLAIM_HOUR, hour) is None:
        return False  # rolled meanwhile by another replica
    await conn.fetchrow(ROLLUP, hour, hour + HOUR)
    return True


async def roll_dirty(pool: asyncpg.Pool, limit: int = DIRTY_BATCH) -> int:
    """The job: roll the hours marked dirty, each in its own transaction. The claim waits for writers still
    holding a mark, so their actions are visible to the rollup that follows in the same transaction. An
    hour that fails is left dirty with its error; the others roll. Returns hours rolled."""
    rolled = 0
    for record in await pool.fetch(DIRTY, limit):
        hour = record["bucket_start"]
        try:
            rolled += await run_in_transaction(pool, partial(_roll_hour, hour=hour), name="metrics.rollup")
        except UNAVAILABLE:
            raise
        except Exception as exc:
            logs.event("metrics.rollup_failed", logging.ERROR, hour=hour.isoformat(), error=repr(exc)[:500])
            await pool.execute(HOUR_FAILED, hour, f"{type(exc).__name__}: {exc}"[:2000])
    return rolled


async def backfill(
    pool: asyncpg.Pool, start: datetime, end: datetime, progress: Callable[[int, int], None] | None = None
) -> int:
    """Roll [start, end) hour by hour (each its own transaction); ``progress(done, total)`` after each."""
    todo = hours(start, end)
    async with pool.acquire() as conn:
        for done, hour in enumerate(todo, 1):
            await rollup(conn, hour, hour + HOUR)
            if progress is not None:
                progress(done, len(todo))
    return len(todo)


async def list_metrics(
    conn: asyncpg.Connection, start: datetime | None, end: datetime | None, agent: str | None, limit: int
) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(LIST, start, end, agent, limit)]


JOB = scheduler.Job("agent_metrics.rollup", 60.0, roll_dirty)
