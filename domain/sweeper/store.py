"""SQL of the delivery-gap sweeper: its runs (the drift report), the redeliveries it asked for, what it
checks, and a snapshot of what a healed transition may change (to tell whether it changed anything)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

START_RUN = "INSERT INTO sweeper_runs (trigger, since) VALUES ($1, $2) RETURNING id"
FINISH_RUN = """
UPDATE sweeper_runs SET finished_at = now(), status = $2, checked = $3, missing = $4, redelivered = $5,
    healed = $6, sources = $7::jsonb, error = $8
WHERE id = $1
"""
JOB_DUE = """
SELECT NOT EXISTS (SELECT 1 FROM sweeper_runs WHERE trigger = 'job' AND started_at > now() - make_interval(secs => $1))
"""
RECENT_RUNS = """
SELECT id, trigger, since, started_at, finished_at, status, checked, missing, redelivered, healed, sources, error
FROM sweeper_runs ORDER BY started_at DESC, id DESC LIMIT $1
"""
STORED_GUIDS = "SELECT delivery_id FROM webhook_deliveries WHERE source = 'github' AND delivery_id = ANY($1::text[])"
# The claim on asking GitHub again: a first ask inserts; a later one only once the last is old enough.
CLAIM_REDELIVERY = """
INSERT INTO sweeper_redeliveries AS r (hook, guid, delivery_id, event, run_id) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (hook, guid) DO UPDATE SET
    attempts = r.attempts + 1, requested_at = now(), delivery_id = EXCLUDED.delivery_id,
    run_id = EXCLUDED.run_id, outcome = NULL
WHERE r.requested_at < now() - make_interval(secs => $6)
RETURNING attempts
"""
# A refused ask may be made again by the next sweep.
REDELIVERY_OUTCOME = """
UPDATE sweeper_redeliveries SET outcome = $3,
    requested_at = CASE WHEN $4 THEN requested_at ELSE '-infinity' END
WHERE hook = $1 AND guid = $2
"""
LINEAR_CANDIDATES = """
SELECT linear_issue_id FROM sentry_error_mappings WHERE status = 'open'
UNION SELECT linear_issue_id FROM fix_metrics WHERE linear_issue_id IS NOT NULL AND fix_completed_at IS NULL
UNION SELECT linear_issue_id FROM infrastructure_incidents
      WHERE linear_issue_id IS NOT NULL AND status IN ('detected', 'acknowledged', 'mitigating')
ORDER BY 1
"""
# Every mapped Sentry issue, and Sentry issues with an open incident (their mapping may not exist yet).
SENTRY_CANDIDATES = """
WITH ids AS (
    SELECT sentry_issue_id FROM sentry_error_mappings
    UNION SELECT sentry_issue_id FROM infrastructure_incidents
          WHERE source = 'sentry' AND sentry_issue_id IS NOT NULL
            AND status IN ('detected', 'acknowledged', 'mitigating')
)
SELECT ids.sentry_issue_id, m.status AS mapping_status, m.last_seen_at,
       (SELECT i.status FROM infrastructure_incidents i WHERE i.sentry_issue_id = ids.sentry_issue_id
        ORDER BY i.created_at DESC, i.incident_number DESC LIMIT 1) AS incident_status,
       (SELECT i.resolved_by FROM infrastructure_incidents i WHERE i.sentry_issue_id = ids.sentry_issue_id
        ORDER BY i.created_at DESC, i.incident_number DESC LIMIT 1) AS resolved_by
FROM ids LEFT JOIN sentry_error_mappings m ON m.sentry_issue_id = ids.sentry_issue_id
ORDER BY 1
"""
# What a transition of one Linear or Sentry issue may change: its incidents' statuses, its fix rows'
# stamps, its mappings' statuses.
SNAPSHOT = """
SELECT
  (SELECT coalesce(jsonb_object_agg(id::text, status), '{}'::jsonb) FROM infrastructure_incidents
   WHERE linear_issue_id = $1::text OR sentry_issue_id = $2::text) AS incidents,
  (SELECT coalesce(jsonb_agg(jsonb_build_array(acknowledged_at, fix_started_at, fix_completed_at,
                                               regression_occurred) ORDER BY id), '[]'::jsonb) FROM fix_metrics
   WHERE linear_issue_id = $1::text OR sentry_issue_id = $2::text) AS fixes,
  (SELECT coalesce(jsonb_agg(jsonb_build_array(status, linear_issue_id) ORDER BY id), '[]'::jsonb)
   FROM sentry_error_mappings
   WHERE linear_issue_id = $1::text OR sentry_issue_id = $2::text) AS mappings
"""


@dataclass(frozen=True)
class SentryCandidate:
    sentry_issue_id: str
    mapping_status: str | None
    last_seen_at: datetime | None
    incident_status: str | None
    resolved_by: str | None


@dataclass(frozen=True)
class Snapshot:
    incidents: dict[str, str]
    rest: tuple[Any, ...]

    def changed_incidents(self, after: Snapshot) -> list[uuid.UUID]:
        """Incidents whose status changed, or that are new, from this snapshot to ``after``."""
        return sorted(uuid.UUID(i) for i, status in after.incidents.items() if self.incidents.get(i) != status)


async def start_run(conn: asyncpg.Connection | asyncpg.Pool, trigger: str, since: datetime) -> int:
    run_id: int = await conn.fetchval(START_RUN, trigger, since)
    return run_id


async def finish_run(
    conn: asyncpg.Connection | asyncpg.Pool,
    run_id: int,
    status: str,
    totals: dict[str, int],
    sources: dict[str, Any],
    error: str | None = None,
) -> None:
    await conn.execute(
        FINISH_RUN,
        run_id,
        status,
        totals.get("checked", 0),
        totals.get("missing", 0),
        totals.get("redelivered", 0),
        totals.get("healed", 0),
        json.loads(json.dumps(sources, default=str)),
        error,
    )


async def job_due(conn: asyncpg.Connection | asyncpg.Pool, interval_s: float) -> bool:
    """No job run started within ``interval_s`` (by the database's clock)."""
    return bool(await conn.fetchval(JOB_DUE, interval_s))


async def recent_runs(conn: asyncpg.Connection | asyncpg.Pool, limit: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(RECENT_RUNS, limit)]


async def stored_guids(conn: asyncpg.Connection | asyncpg.Pool, guids: list[str]) -> set[str]:
    return {r[0] for r in await conn.fetch(STORED_GUIDS, guids)}


async def claim_redelivery(
    conn: asyncpg.Connection | asyncpg.Pool,
    hook: str,
    guid: str,
    delivery_id: int,
    event: str | None,
    run_id: int,
    again_after_s: float,
) -> bool:
    return await conn.fetchval(CLAIM_REDELIVERY, hook, guid, delivery_id, event, run_id, again_after_s) is not None


async def redelivery_outcome(
    conn: asyncpg.Connection | asyncpg.Pool, hook: str, guid: str, outcome: str, *, accepted: bool
) -> None:
    await conn.execute(REDELIVERY_OUTCOME, hook, guid, outcome, accepted)


async def linear_candidates(conn: asyncpg.Connection | asyncpg.Pool) -> list[str]:
    return [r[0] for r in await conn.fetch(LINEAR_CANDIDATES)]


async def sentry_candidates(conn: asyncpg.Connection | asyncpg.Pool) -> list[SentryCandidate]:
    return [SentryCandidate(*r) for r in await conn.fetch(SENTRY_CANDIDATES)]


async def snapshot(conn: asyncpg.Connection, *, linear: str | None = None, sentry: str | None = None) -> Snapshot:
    r = await conn.fetchrow(SNAPSHOT, linear, sentry)
    return Snapshot(dict(r["incidents"]), (r["fixes"], r["mappings"]))
