"""What the console's pages read: SQL the console alone needs (overviews, lists, chart series).

Writes never happen here: every action goes through the domain's own functions (see actions.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

PAGE = 50

OPEN_BY_SEVERITY = """
SELECT severity, count(*) AS n FROM infrastructure_incidents
WHERE status IN ('detected', 'acknowledged', 'mitigating') GROUP BY severity
"""
LATEST_OPEN = """
SELECT id, incident_number, title, severity, status, created_at FROM infrastructure_incidents
WHERE status IN ('detected', 'acknowledged', 'mitigating')
ORDER BY created_at DESC, incident_number DESC LIMIT 10
"""
CODING_BY_STATUS = "SELECT status, count(*) AS n FROM coding_requests GROUP BY status"
DELIVERY_PROBLEMS = """
SELECT count(*) FILTER (WHERE next_attempt_at IS NOT NULL) AS failed,
       count(*) FILTER (WHERE next_attempt_at IS NULL) AS dead
FROM webhook_deliveries WHERE status = 'failed'
"""
OUTBOX_BACKLOG = """
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'dead') AS dead,
       now() - min(created_at) FILTER (WHERE status = 'pending') AS oldest_age
FROM outbox WHERE status IN ('pending', 'dead')
"""
COSTS_TODAY = """
SELECT agent_id, sum(amount_usd) AS total FROM agent_costs
WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
GROUP BY agent_id ORDER BY agent_id
"""
# Keyset pages: the cursor is the last row's (created_at, incident_number); filters are optional.
INCIDENTS = """
SELECT id, incident_number, title, severity, status, affected_services, source, created_at
FROM infrastructure_incidents
WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR severity = $2)
  AND ($3::text IS NULL OR affected_services @> ARRAY[$3])
  AND ($4::timestamptz IS NULL OR (created_at, incident_number) < ($4, $5))
ORDER BY created_at DESC, incident_number DESC
LIMIT $6
"""
FIXES = """
SELECT error_type, source, severity, github_pr_url, detected_at, acknowledged_at, fix_started_at, fix_completed_at,
       time_to_acknowledge, time_to_fix_start, time_to_resolution, fix_successful, fix_method, regression_occurred
FROM fix_metrics WHERE metadata ->> 'incident_id' = $1 OR ($2::text IS NOT NULL AND sentry_issue_id = $2)
ORDER BY detected_at
"""
APPROVAL_HISTORY = """
SELECT id, agent_name, action_type, risk_level, status, resolved_by, resolved_at, rejection_reason, created_at
FROM approval_requests WHERE status <> 'pending' OR expires_at <= now()
ORDER BY coalesce(resolved_at, expires_at) DESC LIMIT $1
"""
CODING_BOARD = """
SELECT request_number, title, status, priority, request_type, pr_url, pr_status, pr_number, branch_name,
       requested_by_name, assigned_agent, created_at, updated_at
FROM coding_requests ORDER BY updated_at DESC LIMIT $1
"""
DELIVERIES = """
SELECT id, source, delivery_id, event_type, action, attempts, last_error, received_at, next_attempt_at
FROM webhook_deliveries WHERE status = 'failed' ORDER BY received_at DESC LIMIT $1
"""
OUTBOX_ROWS = """
SELECT id, kind, status, attempts, last_error, next_attempt_at, created_at FROM outbox
WHERE status IN ('pending', 'dead') ORDER BY status, next_attempt_at LIMIT $1
"""
OUTBOX_KINDS = """
SELECT kind, status, count(*) AS n FROM outbox GROUP BY kind, status ORDER BY kind, status
"""
AGENT_HOURS = """
SELECT agent_name, bucket_start, actions_total, actions_successful, p95_execution_time_ms, mttr_ms
FROM agent_metrics WHERE bucket_start >= now() - make_interval(days => $1)
ORDER BY bucket_start
"""
COST_DAYS = """
SELECT (created_at AT TIME ZONE 'UTC')::date AS day, agent_id, sum(amount_usd) AS total
FROM agent_costs WHERE created_at >= now() - make_interval(days => $1)
GROUP BY 1, 2 ORDER BY 1, 2
"""
ANALYTICS = """
SELECT period_start, period_days, pr_merge_rate, ci_success_rate, review_coverage FROM automation_analytics
ORDER BY period_start DESC LIMIT $1
"""


async def rows(conn: asyncpg.Connection | asyncpg.Pool, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(sql, *args)]


async def incidents_page(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    status: str | None,
    severity: str | None,
    service: str | None,
    before: tuple[datetime, int] | None,
) -> tuple[list[dict[str, Any]], tuple[datetime, int] | None]:
    """One page (newest first) and the cursor of the next page, or None on the last one."""
    at, number = before if before else (None, None)
    found = await rows(conn, INCIDENTS, status, severity, service, at, number, PAGE + 1)
    if len(found) <= PAGE:
        return found, None
    last = found[PAGE - 1]
    return found[:PAGE], (last["created_at"], last["incident_number"])
