"""Runbooks written by people (create, edit as a new version), outcomes reported by the executor, and a
version's evidence, for the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from domain.runbooks import audit, promotion, store
from domain.runbooks.embedders import Embedder
from domain.runbooks.store import NewPattern, Pattern

EVIDENCE = """
SELECT compared, agreement_sum, regressions, promotion_approval_id, promoted_at
FROM runbook_evidence WHERE pattern_id = $1
"""
LATEST_INCIDENT = "SELECT id FROM infrastructure_incidents WHERE id = $1"


def as_incident(pattern_type: str, name: str, conditions: dict[str, Any], description: str | None) -> dict[str, Any]:
    """A written runbook shaped like an incident, so the embedder places it among the incidents it fits."""
    keywords = conditions.get("title_keywords") or []
    return {
        "incident_type": pattern_type,
        "title": " ".join(keywords) or name,
        "error_message": description or "",
        "affected_services": conditions.get("services") or [],
        "error_details": {"error_type": conditions["error_type"]} if conditions.get("error_type") else {},
    }


async def write(
    conn: asyncpg.Connection, body: dict[str, Any], *, embedder: Embedder, previous: Pattern | None
) -> Pattern | None:
    """A new runbook, or the next version of ``previous`` with ``body``'s fields changed. None when a
    new runbook's name is taken. Raises store.Superseded when ``previous`` was edited first."""
    base: dict[str, Any] = (
        {
            "pattern_name": previous.pattern_name,
            "pattern_type": previous.pattern_type,
            "trigger_conditions": previous.trigger_conditions,
            "automated_steps": previous.automated_steps,
            "description": previous.description,
            "requires_approval": True,
            "auto_execute_threshold": previous.auto_execute_threshold,
        }
        if previous
        else {"trigger_conditions": {}, "description": None, "requires_approval": True, "auto_execute_threshold": None}
    )
    merged = {**base, **body}
    new = NewPattern(
        pattern_name=merged["pattern_name"],
        pattern_type=merged["pattern_type"],
        trigger_conditions=merged["trigger_conditions"],
        automated_steps=merged["automated_steps"],
        description=merged["description"],
        embedding=embedder.embed(
            as_incident(
                merged["pattern_type"], merged["pattern_name"], merged["trigger_conditions"], merged["description"]
            )
        ),
        requires_approval=merged["requires_approval"],
        auto_execute_threshold=merged["auto_execute_threshold"],
    )
    async with conn.transaction():
        if previous is None:
            return await store.insert(conn, new, rename=False)
        return await store.insert(conn, new, previous=previous)


async def outcome(
    conn: asyncpg.Connection,
    pattern_id: uuid.UUID,
    incident_id: uuid.UUID,
    *,
    success: bool,
    resolution_time_ms: int | None,
    now: datetime,
) -> tuple[Pattern, bool] | None:
    """Count an executor's report (once per incident); a failure of an ungated runbook demotes it."""
    result = await store.record_outcome(
        conn,
        pattern_id,
        incident_id,
        success=success,
        resolution_time_ms=resolution_time_ms,
        source="reported",
        now=now,
    )
    if result is None:
        return None
    pattern, demoted = result
    if demoted:
        await promotion.demoted(conn, pattern, incident_id, "an automatic execution failed")
    await audit.record(
        conn,
        "runbook.outcome.reported",
        incident_id=incident_id if await conn.fetchval(LATEST_INCIDENT, incident_id) else None,
        context={"runbook_id": str(pattern_id), "version": pattern.version},
        result={"success": success, "resolution_time_ms": resolution_time_ms, "demoted": demoted},
        success=success,
    )
    return result


async def evidence(conn: asyncpg.Connection, pattern_id: uuid.UUID) -> dict[str, Any]:
    row = await conn.fetchrow(EVIDENCE, pattern_id)
    successes, trials, median_ms = await store.stats(conn, pattern_id)
    compared = row["compared"] if row else 0
    return {
        "outcomes": trials,
        "successes": successes,
        "median_resolution_ms": median_ms,
        "compared": compared,
        "agreement": (row["agreement_sum"] / compared) if row and compared else None,
        "regressions": row["regressions"] if row else 0,
        "promotion_approval_id": str(row["promotion_approval_id"]) if row and row["promotion_approval_id"] else None,
        "promoted_at": row["promoted_at"].isoformat() if row and row["promoted_at"] else None,
    }
