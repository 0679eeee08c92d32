"""Sentry issues and events -> incidents, fix timeline, Sentry-to-Linear mappings, Linear and Slack work.

Work on one Sentry issue is serialised by a transaction-scoped advisory lock, so deliveries for the same
issue that arrive together (or out of order) are applied one after the other by the database.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from db import locks
from domain import settings
from domain.incidents import fix_timeline, sentry_mappings
from domain.incidents import store as incidents
from domain.incidents.rules import Transition, is_open
from domain.incidents.sentry_mappings import Mapping, MappingStatus
from domain.incidents.store import Incident, NewIncident
from integrations.sentry.payloads import IssueAction, MetricAlert, SentryEvent, SentryIssue
from jobs import outbox

LINEAR_CREATE = "linear.create_issue"
LINEAR_REOPEN = "linear.reopen"
LINEAR_COMMENT = "linear.comment"
ROUTING_KEY = "linear.routing"

# A Sentry issue's latest incident, or, when it has none, the new one in the same statement: its incident,
# the outbox rows of its announcement and then of its Linear issue (an Append runs in order: the
# announcement is queued first, as before), and its fix row with the Linear team the routing setting names
# for its project (as ``routed_team`` reads it). ``opened__`` says which.
# Parameters: store.opening_args ($1..$13), then $14 project, $15 error type, $16 detected at, $17 the
# fix's metadata, $18 the Linear payload, $19 its dedupe key.
QUEUED = outbox.ENQUEUE_ROWS.format(
    rows=f"{incidents.ANNOUNCE_ROW} UNION ALL SELECT '{LINEAR_CREATE}', $18::jsonb, $19::text FROM opened"
)
OPEN_SENTRY = f"""
WITH latest AS ({incidents.LATEST_FOR_SENTRY.replace("$1", "$9").strip()}),
opened AS ({incidents.INSERT_UNLESS.format(unless="WHERE NOT EXISTS (SELECT 1 FROM latest)")}),
queued AS ({QUEUED}),
routed AS (
    SELECT (SELECT config_value FROM agent_swarm_config WHERE config_key = '{ROUTING_KEY}')
           -> 'sentry_projects' -> coalesce($14::text, '') AS team
),
fixed AS (
    INSERT INTO fix_metrics (error_type, sentry_issue_id, source, team_key, severity, detected_at, metadata)
    SELECT $15, $9, 'sentry',
           (SELECT CASE WHEN jsonb_typeof(team) = 'string' AND team #>> '{{}}' <> '' THEN team #>> '{{}}' END
            FROM routed),
           $1, $16, $17::jsonb || jsonb_build_object('incident_id', opened.id::text)
    FROM opened
)
SELECT *, true AS opened__ FROM opened UNION ALL SELECT *, false FROM latest
"""


# ``n`` more events of a Sentry issue, in one statement: on its mapping (a resolved one is open again, a
# regression its previous_status tells), or, while there is none (the Linear issue is not open yet), on its
# latest incident (``incidents.COUNT_PENDING_EVENT``); ``on_incident`` is false when neither exists.
COUNT_EVENTS = f"""
WITH counted AS (
    UPDATE sentry_error_mappings m SET
        event_count = m.event_count + $2,
        last_seen_at = GREATEST(m.last_seen_at, $3),
        status = CASE WHEN m.status = 'resolved' THEN 'open' ELSE m.status END
    FROM (SELECT id, status FROM sentry_error_mappings WHERE sentry_issue_id = $1 FOR UPDATE) AS old
    WHERE m.id = old.id
    RETURNING m.*, old.status AS previous_status
), pending AS (
    {incidents.COUNT_PENDING_EVENT.strip()}
      AND NOT EXISTS (SELECT 1 FROM counted)
    RETURNING id
)
SELECT counted.*, EXISTS (SELECT 1 FROM pending) AS on_incident FROM (SELECT 1) AS one LEFT JOIN counted ON true
"""


async def routed_team(conn: asyncpg.Connection, project: str | None) -> str | None:
    """The Linear team key the routing setting names for a Sentry project (None: the default team)."""
    routing = await settings.get(conn, ROUTING_KEY, {})
    projects = routing.get("sentry_projects", {}) if isinstance(routing, dict) else {}
    team = projects.get(project or "") if isinstance(projects, dict) else None
    return team if isinstance(team, str) and team else None


def linear_description(issue: SentryIssue) -> str:
    lines = [
        f"Sentry issue {issue.short_id or issue.issue_id} in project {issue.project or 'unknown'}.",
        "",
        f"**{issue.error_type}**: {issue.error_value or issue.title}",
    ]
    if issue.culprit:
        lines.append(f"Culprit: `{issue.culprit}`")
    if issue.url:
        lines.append(f"Sentry: {issue.url}")
    if issue.first_seen:
        lines.append(f"First seen: {issue.first_seen.isoformat()}")
    return "\n".join(lines)


def linear_create_payload(issue: SentryIssue, now: datetime) -> dict[str, Any]:
    """What the outbox needs to open the Linear issue of a Sentry issue."""
    return {
        "sentry_issue_id": issue.issue_id,
        "linear_uuid": str(uuid.uuid4()),
        "project": issue.project,
        "title": f"[Sentry] {issue.title}"[:250],
        "description": linear_description(issue),
        "error_type": issue.error_type,
        "first_seen": (issue.first_seen or now).isoformat(),
        "last_seen": (issue.last_seen or issue.first_seen or now).isoformat(),
        "count": issue.count,
    }


async def ensure_incident(conn: asyncpg.Connection, issue: SentryIssue, *, now: datetime) -> tuple[Incident, bool]:
    """The Sentry issue's incident, opened (with its fix row, Linear issue and Slack announcement) if this
    is the first delivery about it, whatever its action. Returns (incident, created)."""
    await locks.xact_lock(conn, locks.incident("sentry", issue.issue_id))
    new = NewIncident(
        severity=issue.severity,
        incident_type="application_error",
        source="sentry",
        source_id=issue.issue_id,
        title=issue.title,
        error_message=issue.error_value,
        error_details={**issue.details(), "error_type": issue.error_type},
        affected_services=(issue.project,) if issue.project else (),
        sentry_issue_id=issue.issue_id,
        detected_at=issue.first_seen,
    )
    record = await conn.fetchrow(
        OPEN_SENTRY,
        *incidents.opening_args(new, now),
        issue.project,
        issue.error_type,
        issue.first_seen or now,
        {"project": issue.project, "short_id": issue.short_id},
        linear_create_payload(issue, now),
        f"{LINEAR_CREATE}:sentry:{issue.issue_id}",
    )
    opened: bool = record["opened__"]
    incident = Incident.of(record)
    incident.row.pop("opened__")
    return incident, opened


async def regression(conn: asyncpg.Connection, mapping: Mapping, *, now: datetime, cause: str) -> Incident:
    """A resolved Sentry issue came back: flag the fix, open a new incident on the same Linear issue, and
    reopen that Linear issue with a comment (through the outbox)."""
    await fix_timeline.mark_regression(conn, mapping.sentry_issue_id)
    previous = await incidents.latest_for_sentry(conn, mapping.sentry_issue_id)
    incident = await incidents.open_incident(
        conn,
        NewIncident(
            severity=previous.severity if previous else "high",
            incident_type="regression",
            source="sentry",
            source_id=mapping.sentry_issue_id,
            title=f"Regression: {previous.title if previous else mapping.error_type}",
            error_message=(previous.row.get("error_message") if previous else None),
            error_details={"regression_of": str(previous.id) if previous else None, "cause": cause},
            affected_services=tuple(previous.row.get("affected_services") or ()) if previous else (),
            sentry_issue_id=mapping.sentry_issue_id,
            linear_issue_id=None if mapping.status == MappingStatus.UNLINKED else mapping.linear_issue_id,
        ),
        now=now,
    )
    if mapping.status == MappingStatus.UNLINKED:
        await outbox.enqueue(
            conn,
            LINEAR_CREATE,
            {
                "sentry_issue_id": mapping.sentry_issue_id,
                "linear_uuid": str(uuid.uuid4()),
                "project": (incident.row.get("affected_services") or [None])[0],
                "title": f"[Sentry] {incident.title}"[:250],
                "description": (
                    f"Sentry issue {mapping.sentry_issue_id} is back ({cause}); its Linear issue "
                    f"{mapping.linear_issue_id} was deleted. Incident #{incident.incident_number}."
                ),
                "error_type": mapping.error_type,
                "first_seen": now.isoformat(),
                "last_seen": now.isoformat(),
                "count": 0,
            },
            dedupe_key=f"{LINEAR_CREATE}:sentry:{mapping.sentry_issue_id}:{incident.id}",
        )
        return incident
    await outbox.enqueue(
        conn,
        LINEAR_REOPEN,
        {
            "identifier": mapping.linear_issue_id,
            "comment": (
                f"Regression: Sentry issue {mapping.sentry_issue_id} is back ({cause}) after it was resolved. "
                f"Incident #{incident.incident_number} opened."
            ),
        },
        dedupe_key=f"{LINEAR_REOPEN}:{incident.id}",
    )
    return incident


async def on_issue(conn: asyncpg.Connection, issue: SentryIssue, action: str, *, now: datetime) -> None:
    incident, _created = await ensure_incident(conn, issue, now=now)
    if action == IssueAction.ASSIGNED:
        if is_open(incident.status):
            await incidents.transition(conn, incident.id, Transition.ACKNOWLEDGE, now=now, note="assigned in Sentry")
        await fix_timeline.acknowledge(conn, await fix_timeline.latest_for_sentry(conn, issue.issue_id), now)
    elif action == IssueAction.RESOLVED:
        await incidents.transition(conn, incident.id, Transition.RESOLVE, now=now, by=issue.actor or "sentry")
        await sentry_mappings.set_status(conn, issue.issue_id, MappingStatus.RESOLVED)
    elif action in (IssueAction.IGNORED, IssueAction.ARCHIVED):
        await incidents.transition(conn, incident.id, Transition.IGNORE, now=now, note=f"{action} in Sentry")
        await sentry_mappings.set_status(conn, issue.issue_id, MappingStatus.IGNORED)
    elif action == IssueAction.UNRESOLVED:
        mapping = await sentry_mappings.reopen(conn, issue.issue_id) or await _unlinked_and_closed(conn, issue.issue_id)
        if mapping is not None:
            await regression(conn, mapping, now=now, cause="unresolved in Sentry")


async def _unlinked_and_closed(conn: asyncpg.Connection, sentry_issue_id: str) -> Mapping | None:
    """An unlinked mapping whose latest incident is closed: the issue coming back is a regression."""
    mapping = await sentry_mappings.get(conn, sentry_issue_id)
    if mapping is None or mapping.status != MappingStatus.UNLINKED:
        return None
    latest = await incidents.latest_for_sentry(conn, sentry_issue_id)
    return mapping if latest is not None and not is_open(latest.status) else None


async def on_events(conn: asyncpg.Connection, events: list[SentryEvent], *, now: datetime) -> None:
    """More events of ONE issue, in arrival order (a burst the inbox hands over together): counted in one
    update (``event_count + n``); after a resolution they are a regression (one: the first event reopens).
    An issue not seen before (alert rules send issues this way) opens its incident as ``issue.created``
    does, with the first event; the others count on it."""
    first = events[0]
    seen = [e.seen_at for e in events if e.seen_at is not None]
    await locks.xact_lock(conn, locks.incident("sentry", first.issue_id))
    counted = await conn.fetchrow(COUNT_EVENTS, first.issue_id, len(events), max(seen) if seen else now)
    if counted["sentry_issue_id"] is None:
        if not counted["on_incident"]:
            await ensure_incident(conn, first.issue, now=now)  # its Linear issue starts with this event counted
            if len(events) > 1:
                await incidents.count_pending_event(conn, first.issue_id, len(events) - 1)
        return
    mapping, previous_status = sentry_mappings.Mapping.of(counted), counted["previous_status"]
    cause = f"new event {first.event_id or ''}".strip()
    if previous_status == MappingStatus.RESOLVED:
        await regression(conn, mapping, now=now, cause=cause)
    elif previous_status == MappingStatus.UNLINKED and await _unlinked_and_closed(conn, first.issue_id):
        await regression(conn, mapping, now=now, cause=cause)


async def on_metric_alert(conn: asyncpg.Connection, alert: MetricAlert, *, now: datetime) -> None:
    """critical/warning opens (or updates) the alert's incident; resolved resolves it."""
    key = f"metric_alert:{alert.alert_id}"
    await locks.xact_lock(conn, locks.incident("sentry", key))
    current = await incidents.latest_by_key(conn, "sentry", key)
    open_now = current if current is not None and is_open(current.status) else None
    if alert.action in ("critical", "warning"):
        if open_now is not None:
            await incidents.set_severity(conn, open_now.id, alert.severity)
            return
        await incidents.open_incident(
            conn,
            NewIncident(
                severity=alert.severity,
                incident_type="metric_alert",
                source="sentry",
                source_id=key,
                title=alert.title,
                error_message=alert.description,
                error_details={"alert_id": alert.alert_id, "url": alert.url, "level": alert.action},
                affected_services=alert.projects,
                detected_at=alert.started_at,
            ),
            now=now,
        )
    elif alert.action == "resolved" and open_now is not None:
        await incidents.transition(conn, open_now.id, Transition.RESOLVE, now=now, by="sentry")
