"""Outbox handlers that change Linear for incidents: open the issue for a new Sentry issue (then record
the Sentry-to-Linear mapping and put the identifier on the incident and fix rows), reopen one on a
regression with a comment. Every change made here is remembered so its webhook echo is not applied."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from db import locks
from domain.incidents import fix_events, fix_timeline, sentry_mappings
from domain.incidents import store as incidents
from domain.incidents.error_tracking import LINEAR_COMMENT, LINEAR_CREATE, LINEAR_REOPEN, routed_team
from domain.incidents.sentry_mappings import MappingStatus
from integrations.linear import client as linear
from jobs import outbox
from jobs.outbox import Context, RetryLater

MAPPING_STATUS_BY_INCIDENT = {"resolved": MappingStatus.RESOLVED, "ignored": MappingStatus.IGNORED}


def pending_events(incident: incidents.Incident | None) -> int:
    """Events counted on the incident while the mapping did not exist yet."""
    details = incident.row.get("error_details") if incident else None
    value = details.get("pending_events") if isinstance(details, dict) else None
    return value if isinstance(value, int) else 0


async def create_issue(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    sentry_issue_id = payload["sentry_issue_id"]
    async with ctx.pool.acquire() as conn:
        existing = await sentry_mappings.get(conn, sentry_issue_id)
        if existing is not None and existing.status != MappingStatus.UNLINKED:
            return {"identifier": existing.linear_issue_id, "existing": True}
        team_key = await routed_team(conn, payload.get("project")) or ctx.config.linear_team_key
    if not team_key:
        raise RetryLater(600, "no Linear team: set LINEAR_TEAM_KEY or the linear.routing setting")
    issue = await linear.create_issue(
        ctx,
        issue_uuid=payload["linear_uuid"],
        team_key=team_key,
        title=payload["title"],
        description=payload["description"],
    )
    async with ctx.pool.acquire() as conn, conn.transaction():
        await locks.xact_lock(conn, locks.incident("sentry", sentry_issue_id))
        if issue.updated_at is not None:
            await fix_events.record_own_change(conn, issue.identifier, issue.updated_at, "create")
        latest = await incidents.latest_for_sentry(conn, sentry_issue_id)
        status = MAPPING_STATUS_BY_INCIDENT.get(latest.status if latest else "", MappingStatus.OPEN)
        # A mapping whose Linear issue was deleted gets the new issue; else the first one is recorded.
        if await sentry_mappings.relink(conn, sentry_issue_id, issue.identifier, team_key, status) is None:
            await sentry_mappings.create(
                conn,
                sentry_issue_id=sentry_issue_id,
                linear_issue_id=issue.identifier,
                error_type=payload.get("error_type") or "error",
                team_key=team_key,
                status=status,
                event_count=int(payload.get("count") or 1) + pending_events(latest),
                first_seen_at=datetime.fromisoformat(payload["first_seen"]),
                last_seen_at=datetime.fromisoformat(payload["last_seen"]),
            )
        await incidents.link_linear(conn, sentry_issue_id, issue.identifier)
        await fix_timeline.link_linear(conn, sentry_issue_id, issue.identifier, team_key)
    return {"identifier": issue.identifier, "id": issue.id, "url": issue.url}


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
