"""Match incidents to runbook patterns, and act on the best match by its mode.

Candidates come two ways: pgvector cosine on the patterns' HNSW index (the nearest current versions) and
``trigger_conditions`` tested against the incident's facts (jsonb containment, severity aside). A
candidate qualifies when its cosine similarity reaches ``runbooks.match_threshold`` for the embedder, or
when its conditions hold for the incident entirely; the best qualified one is the match.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from db import connect
from domain.approvals import store as approvals
from domain.approvals.policy import RiskLevel
from domain.approvals.rules import NewApproval
from domain.bus import events as bus
from domain.runbooks import audit, rules, store
from domain.runbooks.config import Settings
from domain.runbooks.embedders import Embedder
from domain.runbooks.store import CURRENT, PATTERN_COLUMNS, Pattern

EXECUTE = "runbook.execute"
NEAREST = 20
P_COLUMNS = ", ".join("p." + c.strip() for c in PATTERN_COLUMNS.split(","))

# The nearest patterns by the HNSW index (an inner ORDER BY distance LIMIT), plus the structural
# candidates of the incident's type, then the current versions among them with their scores.
CANDIDATES = f"""
WITH near AS (
    SELECT id FROM runbook_patterns ORDER BY embedding <=> $1::real[]::vector LIMIT {NEAREST}
), structural AS (
    SELECT id FROM runbook_patterns
    WHERE pattern_type = $2 AND $3::jsonb @> (trigger_conditions - 'severity')
    LIMIT {NEAREST}
)
SELECT {P_COLUMNS}, true AS current,
       coalesce(1 - (p.embedding <=> $1::real[]::vector), 0) AS score,
       p.id IN (SELECT id FROM structural) AS structural
FROM runbook_patterns p
WHERE p.id IN (SELECT id FROM near UNION SELECT id FROM structural) AND {CURRENT}
  AND ($4::text IS NULL OR p.pattern_type = $4)
ORDER BY score DESC
"""
# CANDIDATES for many embedded incidents in one statement: the same query per incident (a lateral join)
# with its stored embedding (the floats it was sent as), rows tagged with the incident's ordinal.
CANDIDATES_MANY = f"""
SELECT i.n, c.* FROM (
    SELECT n, t, facts, x.embedding AS v
    FROM unnest($1::uuid[], $2::text[], $3::jsonb[]) WITH ORDINALITY AS u(id, t, facts, n)
    JOIN infrastructure_incidents x ON x.id = u.id
) i
CROSS JOIN LATERAL (
    WITH near AS (
        SELECT id FROM runbook_patterns ORDER BY embedding <=> i.v LIMIT {NEAREST}
    ), structural AS (
        SELECT id FROM runbook_patterns
        WHERE pattern_type = i.t AND i.facts @> (trigger_conditions - 'severity')
        LIMIT {NEAREST}
    )
    SELECT {P_COLUMNS}, true AS current,
           coalesce(1 - (p.embedding <=> i.v), 0) AS score,
           p.id IN (SELECT id FROM structural) AS structural
    FROM runbook_patterns p
    WHERE p.id IN (SELECT id FROM near UNION SELECT id FROM structural) AND {CURRENT}
) c
ORDER BY i.n, c.score DESC
"""
RECORD = """
INSERT INTO runbook_matches (incident_id, pattern_id, version, score, mode, proposed_steps, embedder)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (incident_id) DO NOTHING
RETURNING incident_id
"""
SET_APPROVAL = "UPDATE runbook_matches SET approval_id = $2 WHERE incident_id = $1"
MATCH_OF = """
SELECT m.pattern_id, m.version, m.score, m.mode, m.proposed_steps, m.approval_id, p.pattern_name
FROM runbook_matches m JOIN runbook_patterns p ON p.id = m.pattern_id
WHERE m.incident_id = $1
"""
# "The approvers of the critical level": a promotion asks them, whatever the incident's severity.
RISK = {"critical": RiskLevel.CRITICAL, "high": RiskLevel.HIGH, "medium": RiskLevel.MEDIUM, "low": RiskLevel.LOW}


@dataclass(frozen=True)
class Match:
    pattern: Pattern
    score: float
    structural: bool


async def best(
    conn: asyncpg.Connection,
    incident: dict[str, Any],
    vector: list[float],
    settings: Settings,
    *,
    same_type: bool = False,
) -> Match | None:
    """The best qualified current pattern for ``incident``, or None."""
    rows = await conn.fetch(
        CANDIDATES,
        vector,
        incident["incident_type"],
        rules.facts(incident),
        incident["incident_type"] if same_type else None,
    )
    return _choose(rows, settings)


async def best_many(
    conn: asyncpg.Connection, incidents: Sequence[dict[str, Any]], settings: Settings
) -> list[Match | None]:
    """``best`` of each incident (any type) by its stored embedding, in one statement: its vector is not
    sent again (encoding a long real[] is most of the client's cost)."""
    if not incidents:
        return []
    rows = await conn.fetch(
        CANDIDATES_MANY,
        [i["id"] for i in incidents],
        [i["incident_type"] for i in incidents],
        [rules.facts(i) for i in incidents],
    )
    by_incident: list[list[asyncpg.Record]] = [[] for _ in incidents]
    for r in rows:
        by_incident[r["n"] - 1].append(r)
    return [_choose(r, settings) for r in by_incident]


def _choose(rows: Sequence[asyncpg.Record], settings: Settings) -> Match | None:
    threshold = settings.threshold
    qualified = [r for r in rows if r["score"] >= threshold or r["structural"]]
    if not qualified:
        return None
    top = max(qualified, key=lambda r: (r["score"], r["structural"]))
    return Match(Pattern.of(top), float(top["score"]), bool(top["structural"]))


def mode_of(pattern: Pattern, settings: Settings) -> rules.Mode:
    evidence = rules.Evidence(
        steps=len(pattern.automated_steps),
        requires_approval=pattern.requires_approval,
        success_count=pattern.success_count,
        failure_count=pattern.failure_count,
        auto_execute_threshold=pattern.auto_execute_threshold or 3,
    )
    return rules.mode(evidence, settings.auto_lower_bound)


def execute_payload(incident: dict[str, Any], pattern: Pattern, score: float) -> dict[str, Any]:
    return {
        "incident_id": str(incident["id"]),
        "runbook_id": str(pattern.id),
        "pattern_name": pattern.pattern_name,
        "version": pattern.version,
        "steps": pattern.automated_steps,
        "score": round(score, 4),
    }


async def match_incident(
    conn: asyncpg.Connection, incident: dict[str, Any], vector: list[float], settings: Settings, embedder: Embedder
) -> rules.Mode | None:
    """Record the incident's best match (once) and act by its mode, in the caller's transaction."""
    return await act_on(conn, incident, await best(conn, incident, vector, settings), settings, embedder)


async def act_on(
    conn: asyncpg.Connection, incident: dict[str, Any], found: Match | None, settings: Settings, embedder: Embedder
) -> rules.Mode | None:
    """Record ``found`` as the incident's match (once) and act by its mode, in the caller's transaction."""
    if found is None:
        return None
    pattern, m = found.pattern, mode_of(found.pattern, settings)
    recorded = await conn.fetchval(
        RECORD,
        incident["id"],
        pattern.id,
        pattern.version,
        found.score,
        m.value,
        pattern.automated_steps,
        embedder.name,
    )
    if recorded is None:
        return None
    payload = execute_payload(incident, pattern, found.score)
    if m is rules.Mode.AUTO:
        await bus.publish(conn, EXECUTE, payload, targets=[settings.executor_agent], correlation_id=incident["id"])
    elif m is rules.Mode.APPROVAL:
        approval = await approvals.create(
            conn,
            NewApproval(
                agent_name=settings.executor_agent,
                action_type=EXECUTE,
                action_details={
                    "summary": f"Run runbook {pattern.pattern_name} (v{pattern.version}) on incident "
                    f"#{incident['incident_number']}: {incident['title']}",
                    **payload,
                },
                risk_level=RISK.get(incident["severity"], RiskLevel.MEDIUM),
                continuation_event_type=EXECUTE,
                continuation_payload=payload,
            ),
        )
        await conn.execute(SET_APPROVAL, incident["id"], approval.id)
    successes, trials, median_ms = await store.stats(conn, pattern.id)
    text = rules.looks_like(pattern.pattern_name, pattern.version, successes, trials, median_ms, m)
    await audit.tell_thread(conn, incident["id"], "match", text)
    await audit.record(
        conn,
        f"runbook.matched.{m.value}",
        incident_id=incident["id"],
        context={"runbook_id": str(pattern.id), "version": pattern.version, "score": round(found.score, 4)},
        result={"mode": m.value, "structural": found.structural},
    )
    return m


async def runbook_match(conn: asyncpg.Connection, incident_id: uuid.UUID) -> dict[str, Any] | None:
    """The incident's recorded match for ``GET /api/v1/incidents/{id}``: runbook_id, pattern_name, version,
    score, mode (null when it matched nothing). Call after the caller's role has read the incident: the
    rest of the transaction runs as the owner (runbook_matches is internal)."""
    await connect.as_owner(conn)
    row = await conn.fetchrow(MATCH_OF, incident_id)
    if row is None:
        return None
    return {
        "runbook_id": str(row["pattern_id"]),
        "pattern_name": row["pattern_name"],
        "version": row["version"],
        "score": round(row["score"], 4),
        "mode": row["mode"],
        "approval_id": str(row["approval_id"]) if row["approval_id"] else None,
    }
