"""What people and bots say about an incident elsewhere: Sentry and Linear comments mirrored into the
incident's Slack thread (and Sentry's into the Linear issue), Seer's autofix linked as the fix, Linear SLA
breaches raising the severity, and Sentry installations recorded.

Echoes are skipped: a Sentry comment written by an integration (actor type ``application``), and a Linear
comment this service wrote (its id remembered by the outbox handler that wrote it).
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

import logs
from db import locks
from domain.incidents import fix_events, fix_timeline, sentry_mappings
from domain.incidents import store as incidents
from domain.incidents.error_tracking import LINEAR_COMMENT
from domain.incidents.rules import is_open
from domain.incidents.sentry_mappings import MappingStatus
from integrations.linear.payloads import IssueSla, LinearComment
from integrations.sentry.payloads import SeerEvent, SentryComment, SentryInstallation
from jobs import outbox

RECORD_INSTALLATION = """
INSERT INTO sentry_installations (uuid, organization, app, status) VALUES ($1, $2, $3, $4)
ON CONFLICT (uuid) DO UPDATE SET status = EXCLUDED.status, updated_at = now(),
    organization = COALESCE(EXCLUDED.organization, sentry_installations.organization),
    app = COALESCE(EXCLUDED.app, sentry_installations.app)
"""
DELETED_INSTALLATIONS = """
SELECT uuid, organization, app, updated_at FROM sentry_installations WHERE status = 'deleted' ORDER BY updated_at
"""
SEER_PR = """
UPDATE fix_metrics SET
    fix_started_at = LEAST(fix_started_at, $2),
    acknowledged_at = LEAST(acknowledged_at, $2),
    github_pr_url = COALESCE(github_pr_url, $3),
    fix_method = COALESCE(fix_method, 'seer')
WHERE id = ANY($1::uuid[])
"""
SET_NOTES = "UPDATE fix_metrics SET notes = $2 WHERE id = ANY($1::uuid[])"


async def on_sentry_comment(conn: asyncpg.Connection, comment: SentryComment, *, delivery: str) -> str:
    if comment.by_application:
        return "own_comment"
    await locks.xact_lock(conn, locks.incident("sentry", comment.issue_id))
    incident = await incidents.latest_for_sentry(conn, comment.issue_id)
    if incident is None:
        return "unknown"
    await incidents.tell_note(conn, incident, comment.line, f"sentry-comment:{delivery}")
    mapping = await sentry_mappings.get(conn, comment.issue_id)
    if mapping is not None and mapping.status != MappingStatus.UNLINKED:
        await outbox.enqueue(
            conn,
            LINEAR_COMMENT,
            {"identifier": mapping.linear_issue_id, "comment": comment.line},
            dedupe_key=f"{LINEAR_COMMENT}:sentry:{delivery}",
        )
    return "mirrored"


async def on_sentry_installation(conn: asyncpg.Connection, installation: SentryInstallation) -> None:
    status = "deleted" if installation.action == "deleted" else "installed"
    await conn.execute(RECORD_INSTALLATION, installation.uuid, installation.organization, installation.app, status)
    if status == "deleted":
        logs.event(
            "sentry.installation_deleted",
            logging.ERROR,
            installation=installation.uuid,
            organization=installation.organization,
            consequence="Sentry sends no more webhooks for this organization until the integration is reinstalled",
        )
    else:
        logs.event("sentry.installation", installation=installation.uuid, organization=installation.organization)


async def deleted_installations(conn: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, object]]:
    """Installations Sentry reported deleted (shown by /readyz)."""
    return [
        {"uuid": r["uuid"], "organization": r["organization"], "deleted_at": r["updated_at"].isoformat()}
        for r in await conn.fetch(DELETED_INSTALLATIONS)
    ]


async def on_seer(conn: asyncpg.Connection, seer: SeerEvent, *, now: datetime) -> str:
    """``pr_created``: the PR is the fix (started, its URL, method seer); ``root_cause_completed``: the
    root cause goes into the incident's details and the fix row's notes. Other steps change nothing."""
    if seer.action not in ("pr_created", "root_cause_completed"):
        return "ignored"
    await locks.xact_lock(conn, locks.incident("sentry", seer.issue_id))
    incident = await incidents.latest_for_sentry(conn, seer.issue_id)
    if incident is None:
        return "unknown"
    fixes = await fix_timeline.latest_for_sentry(conn, seer.issue_id)
    if seer.action == "pr_created" and seer.pr_urls:
        if fixes:
            await conn.execute(SEER_PR, fixes, now, seer.pr_urls[0])
        for url in seer.pr_urls:
            await incidents.append_step(conn, incident.id, {"action": "seer_pr_created", "pr_url": url})
        await incidents.tell_note(
            conn, incident, f"Seer opened a fix: {', '.join(seer.pr_urls)}", f"seer-pr:{seer.run_id}"
        )
    elif seer.action == "root_cause_completed" and seer.root_cause:
        await incidents.set_detail(conn, incident.id, "root_cause", {"seer_run": seer.run_id, "text": seer.root_cause})
        if fixes:
            await conn.execute(SET_NOTES, fixes, f"Root cause (Seer): {seer.root_cause}")
        await incidents.tell_note(conn, incident, f"Root cause (Seer): {seer.root_cause}", f"seer-rc:{seer.run_id}")
    return "applied"


async def _incidents_for_linear(conn: asyncpg.Connection, identifier: str) -> list[incidents.Incident]:
    """The incidents of a Linear issue: the open ones, else the latest of its Sentry issue."""
    found = await incidents.open_for_linear(conn, identifier)
    if found:
        return found
    mapping = await sentry_mappings.by_linear(conn, identifier)
    latest = await incidents.latest_for_sentry(conn, mapping.sentry_issue_id) if mapping else None
    return [latest] if latest is not None else []


async def on_linear_comment(conn: asyncpg.Connection, comment: LinearComment, *, delivery: str) -> str:
    if comment.identifier is None:
        return "unknown"
    if await fix_events.is_own_comment(conn, comment.comment_id):
        return "own_comment"
    found = await _incidents_for_linear(conn, comment.identifier)
    for incident in found:
        await incidents.tell_note(conn, incident, f"{comment.identifier}: {comment.line}", f"linear-comment:{delivery}")
    return "mirrored" if found else "unknown"


async def on_issue_sla(conn: asyncpg.Connection, sla: IssueSla) -> str:
    """A breached SLA raises each open incident of the issue one severity step, once per breach."""
    if not sla.breached:
        return "ignored"
    await locks.xact_lock(conn, locks.incident("linear", sla.identifier))
    raised = 0
    for incident in await incidents.open_for_linear(conn, sla.identifier):
        if not is_open(incident.status) or incident.row.get("error_details", {}).get("sla_breached"):
            continue
        await incidents.set_detail(conn, incident.id, "sla_breached", True)
        higher = await incidents.raise_severity(conn, incident.id)
        if higher is not None:
            raised += 1
            await incidents.refresh(conn, higher.id)
            note = f"Linear SLA of {sla.identifier} breached: severity raised {incident.severity} -> {higher.severity}"
            await incidents.tell_note(conn, higher, note, f"sla-breached:{sla.identifier}")
    return "raised" if raised else "unchanged"
