"""Infrastructure incidents: open, look up, move through the lifecycle (rules in incident_rules).

Every change that people should hear about queues a Slack message through the outbox in the same
transaction: the announcement for a new incident, a thread reply for each later change.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from domain.incidents.rules import TARGET, Status, Transition, allowed_from
from jobs import outbox

ANNOUNCE = "incident.announce"
UPDATE = "incident.update"
REFRESH = "incident.refresh"  # edit the announcement in place to show the incident as it is now

MS_SINCE_CREATED = "LEAST(GREATEST(round(extract(epoch FROM ($3 - created_at)) * 1000), 0), 2147483647)::int"

# ``unless``: a condition under which nothing is inserted (``WHERE NOT EXISTS ...``), or "".
INSERT_UNLESS = """
INSERT INTO infrastructure_incidents (
    severity, incident_type, source, source_id, affected_services, title, error_message, error_details,
    sentry_issue_id, linear_issue_id, github_workflow_run_id, time_to_detect_ms, created_at
)
SELECT $1, $2, $3, $4, $5::text[], $6, $7, $8::jsonb, $9, $10, $11,
       LEAST(GREATEST(round(extract(epoch FROM ($12::timestamptz - $13::timestamptz)) * 1000), 0), 2147483647)::int,
       $12
{unless}
RETURNING *
"""
INSERT = INSERT_UNLESS.format(unless="")
# The incident and its announcement's outbox row, in one statement.
ANNOUNCE_ROW = f"SELECT '{ANNOUNCE}', jsonb_build_object('incident_id', id::text), '{ANNOUNCE}:' || id FROM opened"
ANNOUNCED = outbox.ENQUEUE_ROWS.format(rows=ANNOUNCE_ROW)
OPEN = f"WITH opened AS ({INSERT}), announced AS ({ANNOUNCED}) SELECT * FROM opened"
GET = "SELECT * FROM infrastructure_incidents WHERE id = $1"
LATEST_BY_KEY = """
SELECT * FROM infrastructure_incidents WHERE source = $1 AND source_id = $2
ORDER BY created_at DESC, incident_number DESC LIMIT 1
"""
LATEST_FOR_SENTRY = """
SELECT * FROM infrastructure_incidents WHERE sentry_issue_id = $1
ORDER BY created_at DESC, incident_number DESC LIMIT 1
"""
OPEN_FOR_LINEAR = """
SELECT * FROM infrastructure_incidents
WHERE linear_issue_id = $1 AND status IN ('detected', 'acknowledged', 'mitigating')
ORDER BY created_at
"""
TRANSITION = f"""
UPDATE infrastructure_incidents SET
    status = $2,
    time_to_mitigate_ms = CASE WHEN $2 = 'mitigating' THEN {MS_SINCE_CREATED} ELSE time_to_mitigate_ms END,
    resolved_at = CASE WHEN $2 = 'resolved' THEN $3 ELSE resolved_at END,
    resolved_by = CASE WHEN $2 = 'resolved' THEN COALESCE($4, resolved_by) ELSE resolved_by END,
    time_to_resolve_ms = CASE WHEN $2 = 'resolved' THEN {MS_SINCE_CREATED} ELSE time_to_resolve_ms END,
    resolution_steps = COALESCE($5::jsonb, resolution_steps),
    resolution_summary = COALESCE($6, resolution_summary)
WHERE id = $1 AND status = ANY($7::text[])
RETURNING *
"""
KEPT_RUNS = 50  # the newest runs an incident lists: a red CI over a weekend must not grow its row forever
APPEND_RUN = f"""
UPDATE infrastructure_incidents SET
    error_details = jsonb_set(COALESCE(error_details, '{{}}'::jsonb), '{{runs}}', (
        SELECT jsonb_agg(kept.r ORDER BY kept.n) FROM (
            SELECT e.r, e.n
            FROM jsonb_array_elements(COALESCE(error_details -> 'runs', '[]'::jsonb) || jsonb_build_array($2::jsonb))
                 WITH ORDINALITY AS e(r, n)
            ORDER BY e.n DESC LIMIT {KEPT_RUNS}
        ) kept)),
    github_workflow_run_id = $3
WHERE id = $1
RETURNING *
"""
COUNT_PENDING_EVENT = """
UPDATE infrastructure_incidents SET error_details = jsonb_set(
    COALESCE(error_details, '{}'::jsonb), '{pending_events}',
    to_jsonb(COALESCE((error_details ->> 'pending_events')::int, 0) + $2))
WHERE id = (SELECT id FROM infrastructure_incidents WHERE sentry_issue_id = $1
            ORDER BY created_at DESC, incident_number DESC LIMIT 1)
"""
APPEND_STEP = """
UPDATE infrastructure_incidents
SET resolution_steps = COALESCE(resolution_steps, '[]'::jsonb) || jsonb_build_array($2::jsonb)
WHERE id = $1 AND NOT COALESCE(resolution_steps, '[]'::jsonb) @> jsonb_build_array($2::jsonb)
RETURNING *
"""
SET_DETAIL = """
UPDATE infrastructure_incidents
SET error_details = jsonb_set(COALESCE(error_details, '{}'::jsonb), $2::text[], $3::jsonb)
WHERE id = $1
"""
# One step up the severity ladder, in one statement (critical stays critical).
RAISE_SEVERITY = """
UPDATE infrastructure_incidents SET severity = CASE severity
    WHEN 'low' THEN 'medium' WHEN 'medium' THEN 'high' WHEN 'high' THEN 'critical' ELSE 'critical' END
WHERE id = $1 AND severity <> 'critical'
RETURNING *
"""
# Escalate compares and sets on the severity the person saw: a repeated click raises once.
ESCALATE = """
UPDATE infrastructure_incidents SET severity = $3
WHERE id = $1 AND severity = $2 AND status IN ('detected', 'acknowledged', 'mitigating')
RETURNING *
"""
# The first person to take the incident owns it; later ones change nothing.
TAKE_OWNERSHIP = """
UPDATE infrastructure_incidents
SET error_details = jsonb_set(COALESCE(error_details, '{}'::jsonb), '{owner}', to_jsonb($2::text))
WHERE id = $1 AND NOT COALESCE(error_details, '{}'::jsonb) ? 'owner'
RETURNING *
"""
ASSIGN_AGENT = """
UPDATE infrastructure_incidents
SET error_details = jsonb_set(COALESCE(error_details, '{}'::jsonb), '{assigned_agent}', to_jsonb($2::text))
WHERE id = $1 AND status IN ('detected', 'acknowledged', 'mitigating')
  AND (error_details ->> 'assigned_agent') IS DISTINCT FROM $2
RETURNING *
"""
SET_SEVERITY = "UPDATE infrastructure_incidents SET severity = $2 WHERE id = $1 AND severity <> $2 RETURNING *"
# The list's WHERE is composed from fixed fragments per filter combination (16 statements, built once), so
# each prepared statement's plan follows its own index (infrastructure_incidents_status_page_idx,
# _severity_page_idx, _created_idx) instead of one generic plan for "($1 IS NULL OR ...)" that can only
# scan. The page is keyset: rows before a cursor. With ?service= the page walks that service's range of
# incident_services (1140_incident_services.sql: one index range in the list's order for a service of any
# share, where @> under RLS could not use the GIN index) and looks each incident up by primary key.
LIST_FILTERS = (
    ("i.status = ${0}", 1),
    ("i.severity = ${0}", 1),
    ("s.service = ${0}", 1),
    ("({o}.created_at, {o}.incident_number) < (${0}::timestamptz, ${1}::int)", 2),
)


def _list_sql(used: tuple[bool, ...]) -> str:
    by_service = used[2]
    o = "s" if by_service else "i"
    clauses, n = [], 0
    for (fragment, places), on in zip(LIST_FILTERS, used, strict=True):
        if on:
            clauses.append(fragment.replace("{o}", o).format(*range(n + 1, n + 1 + places)))
            n += places
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = (
        "incident_services s JOIN infrastructure_incidents i ON i.id = s.incident_id"
        if by_service
        else ("infrastructure_incidents i")
    )
    order = f"ORDER BY {o}.created_at DESC, {o}.incident_number DESC"
    return f"SELECT i.* FROM {rows} {where} {order} LIMIT ${n + 1}"


LIST = {used: _list_sql(used) for used in itertools.product((False, True), repeat=len(LIST_FILTERS))}
# The seed's row level security qual is applied to every row and priced at 0.5% of them, so for a page
# PostgreSQL prefers a bitmap scan and a sort of every match (28-57 ms deep in a million rows). For a keyset
# page the index in the list's order is always the plan: it reads the page and stops.
INDEX_PLANS = "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)"


@dataclass(frozen=True)
class Incident:
    id: uuid.UUID
    incident_number: int
    status: str
    severity: str
    incident_type: str
    source: str
    source_id: str | None
    title: str
    sentry_issue_id: str | None
    linear_issue_id: str | None
    slack_channel_id: str | None
    slack_thread_ts: str | None
    created_at: datetime
    row: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def of(cls, record: asyncpg.Record) -> Incident:
        return cls(
            id=record["id"],
            incident_number=record["incident_number"],
            status=record["status"],
            severity=record["severity"],
            incident_type=record["incident_type"],
            source=record["source"],
            source_id=record["source_id"],
            title=record["title"],
            sentry_issue_id=record["sentry_issue_id"],
            linear_issue_id=record["linear_issue_id"],
            slack_channel_id=record["slack_channel_id"],
            slack_thread_ts=record["slack_thread_ts"],
            created_at=record["created_at"],
            row=dict(record),
        )

    def as_json(self) -> dict[str, Any]:
        """The row as JSON values (the embedding left out)."""
        out: dict[str, Any] = {}
        for key, value in self.row.items():
            if key == "embedding":
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, uuid.UUID):
                value = str(value)
            out[key] = value
        return out


@dataclass(frozen=True)
class NewIncident:
    severity: str
    incident_type: str
    source: str
    source_id: str | None
    title: str
    error_message: str | None = None
    error_details: dict[str, Any] = field(default_factory=dict)
    affected_services: tuple[str, ...] = ()
    sentry_issue_id: str | None = None
    linear_issue_id: str | None = None
    github_workflow_run_id: str | None = None
    detected_at: datetime | None = None  # when the source first saw it (time_to_detect_ms)


def _maybe(record: asyncpg.Record | None) -> Incident | None:
    return Incident.of(record) if record is not None else None


def opening_args(new: NewIncident, now: datetime) -> tuple[Any, ...]:
    """The parameters $1..$13 of ``INSERT`` (and of the statements built on it)."""
    return (
        new.severity,
        new.incident_type,
        new.source,
        new.source_id,
        list(new.affected_services),
        new.title[:500],
        new.error_message,
        json.loads(json.dumps(new.error_details, default=str)),
        new.sentry_issue_id,
        new.linear_issue_id,
        new.github_workflow_run_id,
        now,
        new.detected_at,
    )


async def open_incident(conn: asyncpg.Connection, new: NewIncident, *, now: datetime) -> Incident:
    """Insert a detected incident and queue its Slack announcement, in the caller's transaction (one
    statement)."""
    return Incident.of(await conn.fetchrow(OPEN, *opening_args(new, now)))


async def get(conn: asyncpg.Connection, incident_id: uuid.UUID | str) -> Incident | None:
    return _maybe(await conn.fetchrow(GET, uuid.UUID(str(incident_id))))


async def latest_by_key(conn: asyncpg.Connection, source: str, source_id: str) -> Incident | None:
    return _maybe(await conn.fetchrow(LATEST_BY_KEY, source, source_id))


async def latest_for_sentry(conn: asyncpg.Connection, sentry_issue_id: str) -> Incident | None:
    return _maybe(await conn.fetchrow(LATEST_FOR_SENTRY, sentry_issue_id))


async def open_for_linear(conn: asyncpg.Connection, identifier: str) -> list[Incident]:
    return [Incident.of(r) for r in await conn.fetch(OPEN_FOR_LINEAR, identifier)]


async def transition(
    conn: asyncpg.Connection,
    incident_id: uuid.UUID,
    move: Transition,
    *,
    now: datetime,
    by: str | None = None,
    steps: list[Any] | None = None,
    summary: str | None = None,
    note: str | None = None,
    notify: bool = True,
) -> Incident | None:
    """Apply ``move`` if the incident's current status allows it (one guarded UPDATE); None if not.
    The incident's Slack thread is told through the outbox."""
    target: Status = TARGET[move]
    record = await conn.fetchrow(TRANSITION, incident_id, target.value, now, by, steps, summary, allowed_from(move))
    if record is None:
        return None
    incident = Incident.of(record)
    if notify:
        await tell_thread(conn, incident, note)
    return incident


async def tell_thread(conn: asyncpg.Connection, incident: Incident, note: str | None = None) -> None:
    """Queue a reply in the incident's Slack thread about its current status (once per status), and the
    announcement's edit to show it."""
    await refresh(conn, incident.id)
    await outbox.enqueue(
        conn,
        UPDATE,
        {"incident_id": str(incident.id), "status": incident.status, "note": note},
        dedupe_key=f"{UPDATE}:{incident.id}:{incident.status}",
    )


async def refresh(conn: asyncpg.Connection, incident_id: uuid.UUID) -> None:
    """Queue the announcement's edit in place (pending edits of one incident are coalesced when sent)."""
    await outbox.enqueue(conn, REFRESH, {"incident_id": str(incident_id)})


async def tell_note(conn: asyncpg.Connection, incident: Incident, note: str, key: str) -> None:
    """Queue a reply in the incident's Slack thread that is not a status change (once per ``key``)."""
    dedupe_key = f"{UPDATE}:{incident.id}:note:{key}"
    await outbox.enqueue(
        conn,
        UPDATE,
        {"incident_id": str(incident.id), "status": incident.status, "note": note, "dedupe_key": dedupe_key},
        dedupe_key=dedupe_key,
    )


async def append_step(conn: asyncpg.Connection, incident_id: uuid.UUID, step: dict[str, Any]) -> Incident | None:
    """Add a step to resolution_steps (once: the same step again changes nothing)."""
    return _maybe(await conn.fetchrow(APPEND_STEP, incident_id, json.loads(json.dumps(step, default=str))))


async def set_detail(conn: asyncpg.Connection, incident_id: uuid.UUID, key: str, value: Any) -> None:
    await conn.execute(SET_DETAIL, incident_id, [key], json.loads(json.dumps(value, default=str)))


async def raise_severity(conn: asyncpg.Connection, incident_id: uuid.UUID) -> Incident | None:
    return _maybe(await conn.fetchrow(RAISE_SEVERITY, incident_id))


async def escalate(conn: asyncpg.Connection, incident_id: uuid.UUID, seen: str, to: str) -> Incident | None:
    """Raise the severity from ``seen`` (what the person saw) to ``to``; None when it is no longer ``seen``
    or the incident is closed."""
    return _maybe(await conn.fetchrow(ESCALATE, incident_id, seen, to))


async def take_ownership(conn: asyncpg.Connection, incident_id: uuid.UUID, person: str) -> Incident | None:
    return _maybe(await conn.fetchrow(TAKE_OWNERSHIP, incident_id, person))


async def assign_agent(conn: asyncpg.Connection, incident_id: uuid.UUID, agent: str) -> Incident | None:
    """Record the agent the incident is handed to; None when it is closed or already that agent's."""
    return _maybe(await conn.fetchrow(ASSIGN_AGENT, incident_id, agent))


async def append_run(conn: asyncpg.Connection, incident_id: uuid.UUID, run: dict[str, Any], run_id: str) -> Incident:
    return Incident.of(await conn.fetchrow(APPEND_RUN, incident_id, run, run_id))


async def count_pending_event(conn: asyncpg.Connection, sentry_issue_id: str, n: int = 1) -> bool:
    """``n`` more events of a Sentry issue whose mapping does not exist yet (added to it when created).
    False when the issue has no incident to count them on."""
    return bool(await conn.execute(COUNT_PENDING_EVENT, sentry_issue_id, n) == "UPDATE 1")


async def set_severity(conn: asyncpg.Connection, incident_id: uuid.UUID, severity: str) -> Incident | None:
    return _maybe(await conn.fetchrow(SET_SEVERITY, incident_id, severity))


async def search(
    conn: asyncpg.Connection,
    *,
    status: str | None = None,
    severity: str | None = None,
    service: str | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = 100,
) -> list[Incident]:
    """Newest first, rows before ``before`` (created_at, incident_number) when given. Call in a transaction
    (it sets the planner settings of the list for it)."""
    given: list[Any] = [v for v in (status, severity, service) if v is not None]
    if before is not None:
        given.extend(before)
    sql = LIST[(status is not None, severity is not None, service is not None, before is not None)]
    await conn.execute(INDEX_PLANS)
    return [Incident.of(r) for r in await conn.fetch(sql, *given, limit)]
