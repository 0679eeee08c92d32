"""Learn patterns from resolved incidents, and count a fix once it held for ``runbooks.learn_after``.

A resolution (``resolution_steps``, or the incident's successful ``agent_actions`` when none are given)
that matches a current pattern of the incident's type with the same steps counts towards it; with other
steps it makes the next version; otherwise a new pattern. ``runbook_learnings`` records each resolution
learned (so a crash or a second replica never learns one twice) and when its outcome was counted.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import jsonschema

from domain.bus import events as bus
from domain.runbooks import audit, promotion, rules, store
from domain.runbooks.config import Settings
from domain.runbooks.embedders import Embedder
from domain.runbooks.matching import best

# Resolutions not learned yet; the window keeps the anti-join to recent resolutions (a day of slack heals
# what a crash missed) instead of every resolved incident ever.
UNLEARNED = """
SELECT i.* FROM infrastructure_incidents i
WHERE i.status = 'resolved' AND i.resolved_at IS NOT NULL
  AND i.resolved_at >= coalesce((SELECT max(resolved_at) FROM runbook_learnings), '-infinity') - interval '1 day'
  AND NOT EXISTS (SELECT 1 FROM runbook_learnings l WHERE l.incident_id = i.id AND l.resolved_at = i.resolved_at)
ORDER BY i.resolved_at
LIMIT $1
"""
CLAIM = """
INSERT INTO runbook_learnings (incident_id, resolved_at, how, learned_at) VALUES ($1, $2, 'pending', $3)
ON CONFLICT DO NOTHING RETURNING incident_id
"""
SETTLE = "UPDATE runbook_learnings SET pattern_id = $3, how = $4 WHERE incident_id = $1 AND resolved_at = $2"
# The agents' successful work on the incident, when a resolution names no steps (our own audit rows aside).
AGENT_STEPS = """
SELECT action_type, input_context FROM agent_actions
WHERE incident_id = $1 AND success AND coalesce(action_category, '') <> 'runbook' AND agent_name <> $2
ORDER BY created_at, id
"""
HELD = """
SELECT l.incident_id, l.resolved_at, l.pattern_id, i.status, i.resolved_at AS resolved_now, i.time_to_resolve_ms
FROM runbook_learnings l JOIN infrastructure_incidents i ON i.id = l.incident_id
WHERE l.counted_at IS NULL AND l.pattern_id IS NOT NULL AND l.resolved_at <= $1
ORDER BY l.resolved_at
LIMIT $2
"""
COUNTED = """
UPDATE runbook_learnings SET counted_at = $3 WHERE incident_id = $1 AND resolved_at = $2 AND counted_at IS NULL
RETURNING incident_id
"""
_STEPS = jsonschema.Draft202012Validator(rules.STEPS_SCHEMA)


def valid_steps(steps: Any) -> list[dict[str, Any]] | None:
    """The steps when they fit the step schema, else None."""
    if not isinstance(steps, list) or not steps or not _STEPS.is_valid(steps):
        return None
    return steps


async def steps_taken(conn: asyncpg.Connection, incident: dict[str, Any]) -> list[dict[str, Any]]:
    given = valid_steps(incident.get("resolution_steps"))
    if given is not None:
        return given
    out: list[dict[str, Any]] = []
    for row in await conn.fetch(AGENT_STEPS, incident["id"], bus.SERVICE_AGENT_ID):
        context = row["input_context"] if isinstance(row["input_context"], dict) else {}
        step: dict[str, Any] = {"action": row["action_type"]}
        if isinstance(context.get("target"), str):
            step["target"] = context["target"]
        out.append(step)
    return out


async def learn_one(
    conn: asyncpg.Connection, incident: dict[str, Any], settings: Settings, embedder: Embedder, now: datetime
) -> str | None:
    """Learn from one resolved incident, in the caller's transaction. Returns how (None: learned before)."""
    if await conn.fetchval(CLAIM, incident["id"], incident["resolved_at"], now) is None:
        return None
    steps = await steps_taken(conn, incident)
    await promotion.compare(conn, incident, steps, settings)
    if not steps:
        await conn.execute(SETTLE, incident["id"], incident["resolved_at"], None, "no_steps")
        return "no_steps"
    vector = embedder.embed(incident)
    found = await best(conn, incident, vector, settings, same_type=True)
    new = store.NewPattern(
        pattern_name=rules.pattern_name(incident),
        pattern_type=incident["incident_type"],
        trigger_conditions=rules.conditions(incident),
        automated_steps=steps,
        description=incident.get("resolution_summary")
        or f"Learned from incident #{incident['incident_number']}: {incident['title']}"[:2000],
        embedding=vector,
    )
    pattern: store.Pattern | None
    if found is not None and rules.same_steps(found.pattern.automated_steps, steps):
        pattern, how = found.pattern, "counted"
    elif found is not None:
        try:
            renamed = dataclasses.replace(new, pattern_name=found.pattern.pattern_name)
            pattern, how = await store.insert(conn, renamed, previous=found.pattern), "new_version"
        except store.Superseded:
            pattern, how = await store.insert(conn, new), "created"
    else:
        pattern, how = await store.insert(conn, new), "created"
    assert pattern is not None  # insert renames on a name clash, so it always inserts
    await conn.execute(SETTLE, incident["id"], incident["resolved_at"], pattern.id, how)
    await audit.record(
        conn,
        f"runbook.learned.{how}",
        incident_id=incident["id"],
        context={"steps": steps, "matched": str(found.pattern.id) if found else None},
        result={"runbook_id": str(pattern.id), "version": pattern.version, "pattern_name": pattern.pattern_name},
    )
    return how


async def learn_resolved(
    pool: asyncpg.Pool, settings: Settings, embedder: Embedder, now: datetime, *, batch: int = 100
) -> dict[str, int]:
    """Learn from every resolution not learned yet (one transaction each). Returns counts by how."""
    counts: dict[str, int] = {}
    for row in await pool.fetch(UNLEARNED, batch):
        async with pool.acquire() as conn, conn.transaction():
            how = await learn_one(conn, dict(row), settings, embedder, now)
        if how:
            counts[how] = counts.get(how, 0) + 1
    return counts


async def count_held(pool: asyncpg.Pool, settings: Settings, now: datetime, *, batch: int = 500) -> int:
    """Count as a success each learned fix resolved ``learn_after`` ago that is still resolved (a
    regression before then was already counted as a failure). Returns how many were counted."""
    due = now - timedelta(seconds=settings.learn_after_s)
    counted = 0
    for row in await pool.fetch(HELD, due, batch):
        async with pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(COUNTED, row["incident_id"], row["resolved_at"], now) is None:
                continue
            held = row["status"] == "resolved" and row["resolved_now"] == row["resolved_at"]
            result = await store.record_outcome(
                conn,
                row["pattern_id"],
                row["incident_id"],
                success=held,
                resolution_time_ms=row["time_to_resolve_ms"],
                source="held" if held else "not_held",
                now=now,
            )
            if result is not None and result[1]:
                await promotion.demoted(conn, result[0], row["incident_id"], "its fix did not hold")
            await audit.record(
                conn,
                "runbook.outcome.held" if held else "runbook.outcome.not_held",
                incident_id=row["incident_id"],
                context={"runbook_id": str(row["pattern_id"])},
                result={"success": held, "counted": result is not None},
            )
            counted += 1
    return counted
