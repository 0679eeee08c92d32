"""Outbox handlers that change Linear for incidents: open the issue for a new Sentry issue (then record
the Sentry-to-Linear mapping and put the identifier on the incident and fix rows), reopen one on a
regression with a comment. Every change made here is remembered so its webhook echo is not applied."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from db import locks
from domain.incidents import fix_events
from domain.incidents.error_tracking import LINEAR_COMMENT, LINEAR_CREATE, LINEAR_REOPEN, ROUTING_KEY
from domain.incidents.sentry_mappings import MappingStatus
from integrations.linear import client as linear
from jobs import outbox
from jobs.outbox import Context, RetryLater

# Before the call: whether the Sentry issue is linked already, and the routing setting, in one round trip.
BEFORE_CREATE = """
WITH routed AS (
    SELECT (SELECT config_value FROM agent_swarm_config WHERE config_key = $2) -> 'sentry_projects'
           -> coalesce($3::text, '') AS team
)
SELECT m.status AS mapping_status, m.linear_issue_id,
       (SELECT CASE WHEN jsonb_typeof(team) = 'string' AND team #>> '{}' <> '' THEN team #>> '{}' END
        FROM routed) AS team_key
FROM (SELECT 1) AS one LEFT JOIN sentry_error_mappings m ON m.sentry_issue_id = $1
"""
# After it, under the Sentry issue's lock, one statement where there were six: remember the change as our
# own (its webhook echo is skipped), give an unlinked mapping the new issue or record the first mapping (its
# status and the events counted meanwhile from the latest incident), and put the identifier on the
# incidents and fix rows that have none.
LINK_CREATED = """
WITH own AS (
    INSERT INTO linear_own_changes (identifier, updated_at, operation)
    SELECT $2, $8::timestamptz, 'create' WHERE $8::timestamptz IS NOT NULL
    ON CONFLICT DO NOTHING
),
latest AS (
    SELECT status, error_details -> 'pending_events' AS pending FROM infrastructure_incidents
    WHERE sentry_issue_id = $1 ORDER BY created_at DESC, incident_number DESC LIMIT 1
),
state AS (
    SELECT COALESCE((SELECT CASE WHEN status IN ('resolved', 'ignored') THEN status END FROM latest), 'open') AS status,
           COALESCE((SELECT CASE WHEN jsonb_typeof(pending) = 'number' AND pending::text ~ '^-?[0-9]+$'
                                 THEN pending::text::bigint END FROM latest), 0) AS pending
),
relinked AS (
    UPDATE sentry_error_mappings SET linear_issue_id = $2, team_key = $3, status = (SELECT status FROM state)
    WHERE sentry_issue_id = $1 AND status = 'unlinked'
    RETURNING id
),
created AS (
    INSERT INTO sentry_error_mappings (sentry_issue_id, linear_issue_id, error_type, team_key, status, event_count,
                                       first_seen_at, last_seen_at)
    SELECT $1, $2, $4, $3, state.status, $5 + state.pending, $6::timestamptz, GREATEST($6::timestamptz, $7::timestamptz)
    FROM state WHERE NOT EXISTS (SELECT 1 FROM relinked)
    ON CONFLICT (sentry_issue_id) DO NOTHING
),
incident AS (
    UPDATE infrastructure_incidents SET linear_issue_id = $2 WHERE sentry_issue_id = $1 AND linear_issue_id IS NULL
)
UPDATE fix_metrics SET linear_issue_id = $2, team_key = COALESCE(team_key, $3)
WHERE sentry_issue_id = $1 AND linear_issue_id IS NULL
"""


async def create_issue(ctx: Context, payload: dict[str, Any]) -> dict[str, Any] | outbox.Done:
    sentry_issue_id = payload["sentry_issue_id"]
    before = await ctx.pool.fetchrow(BEFORE_CREATE, sentry_issue_id, ROUTING_KEY, payload.get("project"))
    if before["mapping_status"] is not None and before["mapping_status"] != MappingStatus.UNLINKED:
        return {"identifier": before["linear_issue_id"], "existing": True}
    team_key = before["team_key"] or ctx.config.linear_team_key
    if not team_key:
        raise RetryLater(600, "no Linear team: set LINEAR_TEAM_KEY or the linear.routing setting")
    issue = await linear.create_issue(
        ctx,
        issue_uuid=payload["linear_uuid"],
        team_key=team_key,
        title=payload["title"],
        description=payload["description"],
    )
    link = (
        sentry_issue_id,
        issue.identifier,
        team_key,
        payload.get("error_type") or "error",
        int(payload.get("count") or 1),
        datetime.fromisoformat(payload["first_seen"]),
        datetime.fromisoformat(payload["last_seen"]),
        issue.updated_at,
    )
    # Recorded with the row's done (batched), under the Sentry issue's lock like its webhook deliveries.
    return outbox.Done(
        {"identifier": issue.identifier, "id": issue.id, "url": issue.url},
        writes=((LINK_CREATED, link),),
        locks=(locks.incident("sentry", sentry_issue_id),),
    )


async def reopen_issue(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    identifier = payload["identifier"]
    issue = await linear.reopen_issue(ctx, identifier)
    if issue.updated_at is not None:
        await fix_events.record_own_change(ctx.pool, issue.identifier, issue.updated_at, "reopen")
    comment_id = await linear.comment(ctx, issue.id, payload["comment"])
    return {"identifier": issue.identifier, "comment": comment_id}


async def comment_issue(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """Mirror a comment into a Linear issue; its id is remembered so the Comment webhook echo is skipped."""
    found = await linear.find_issue(ctx, payload["identifier"])
    if found is None:
        return {"skipped": f"{payload['identifier']} no longer exists in Linear"}
    comment_id = await linear.comment(ctx, found["id"], payload["comment"])
    await fix_events.record_own_comment(ctx.pool, comment_id)
    return {"identifier": payload["identifier"], "comment": comment_id}


# The outbox kinds this module delivers (given to the wiring by the concept's setup).
OUTBOX: dict[str, outbox.Handler] = {
    LINEAR_CREATE: create_issue,
    LINEAR_REOPEN: reopen_issue,
    LINEAR_COMMENT: comment_issue,
}
