"""Autonomy earned and lost on evidence: shadow agreement, promotion through the critical approvers,
demotion on a failed execution or a regression. Each step is told on the bus or in the thread, and
recorded in ``agent_actions``."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from domain.approvals import store as approvals
from domain.approvals.policy import RiskLevel
from domain.approvals.rules import NewApproval
from domain.bus import events as bus
from domain.runbooks import audit, rules, store
from domain.runbooks.config import Settings
from domain.runbooks.store import Pattern

DEMOTED = "runbook.demoted"
PROMOTE = "runbook.promote"
PROMOTION_DECIDED = "runbook.promotion.decided"
PROMOTION_EXPIRES_S = 7 * 24 * 3600

COMPARED = """
INSERT INTO runbook_evidence AS e (pattern_id, compared, agreement_sum) VALUES ($1, 1, $2)
ON CONFLICT (pattern_id) DO UPDATE SET compared = e.compared + 1, agreement_sum = e.agreement_sum + $2
RETURNING compared, agreement_sum, regressions, promotion_approval_id
"""
REGRESSED = """
INSERT INTO runbook_evidence AS e (pattern_id, regressions) VALUES ($1, 1)
ON CONFLICT (pattern_id) DO UPDATE SET regressions = e.regressions + 1
"""
CLAIM_PROMOTION = """
UPDATE runbook_evidence SET promotion_approval_id = $2
WHERE pattern_id = $1 AND promotion_approval_id IS NULL
RETURNING pattern_id
"""
MATCH_FOR = "SELECT pattern_id, mode, proposed_steps FROM runbook_matches WHERE incident_id = $1"
# The patterns that resolved an incident: the one its resolution taught or counted towards, and any
# whose execution was reported successful on it.
RESOLVERS = """
SELECT pattern_id, bool_or(uncounted) AS uncounted FROM (
    SELECT pattern_id, counted_at IS NULL AS uncounted FROM runbook_learnings
    WHERE incident_id = $1 AND pattern_id IS NOT NULL
    UNION ALL
    SELECT pattern_id, false FROM runbook_outcomes WHERE incident_id = $1 AND success
) r GROUP BY pattern_id
"""
MARK_COUNTED = "UPDATE runbook_learnings SET counted_at = $2 WHERE incident_id = $1 AND counted_at IS NULL"
# Approved promotions clear the gate (one statement); refused or expired ones free the version to ask again.
PROMOTED = f"""
WITH done AS (
    UPDATE runbook_evidence e SET promoted_at = $1
    FROM approval_requests a
    WHERE a.id = e.promotion_approval_id AND a.status = 'approved' AND e.promoted_at IS NULL
    RETURNING e.pattern_id, a.id AS approval_id, a.resolved_by
)
UPDATE runbook_patterns p SET requires_approval = false, updated_at = now()
FROM done WHERE p.id = done.pattern_id
RETURNING {", ".join("p." + c.strip() for c in store.PATTERN_COLUMNS.split(","))}, done.approval_id, done.resolved_by
"""
REFUSED = """
UPDATE runbook_evidence e SET promotion_approval_id = NULL
FROM approval_requests a
WHERE a.id = e.promotion_approval_id AND a.status IN ('rejected', 'expired', 'cancelled') AND e.promoted_at IS NULL
RETURNING e.pattern_id, a.status
"""


async def demoted(conn: asyncpg.Connection, pattern: Pattern, incident_id: uuid.UUID, why: str) -> None:
    """Say that ``pattern`` is gated again: on the bus, in the incident's thread, in agent_actions."""
    payload = {
        "runbook_id": str(pattern.id),
        "pattern_name": pattern.pattern_name,
        "version": pattern.version,
        "incident_id": str(incident_id),
        "reason": why,
    }
    await bus.publish(conn, DEMOTED, payload, correlation_id=incident_id)
    await audit.tell_thread(
        conn, incident_id, f"demoted:{pattern.id}", rules.demoted(pattern.pattern_name, pattern.version, why)
    )
    await audit.record(conn, DEMOTED, incident_id=incident_id, context=payload, result={"requires_approval": True})


def regression_of(incident: dict[str, Any]) -> uuid.UUID | None:
    """The incident ``incident`` regresses (``error_details.regression_of``), if it names one."""
    details = incident.get("error_details") or {}
    try:
        return uuid.UUID(str(details.get("regression_of")))
    except ValueError:
        return None


async def on_new_incident(conn: asyncpg.Connection, incident: dict[str, Any], now: Any) -> None:
    """A regression (``error_details.regression_of``) fails the fix of the incident it regresses: an
    uncounted learning counts as a failure, and every pattern that resolved it is gated again."""
    previous = regression_of(incident)
    if previous is None:
        return
    for row in await conn.fetch(RESOLVERS, previous):
        pattern_id = row["pattern_id"]
        await conn.execute(REGRESSED, pattern_id)
        was_gated = True
        if row["uncounted"]:
            counted = await store.record_outcome(
                conn, pattern_id, previous, success=False, resolution_time_ms=None, source="regression", now=now
            )
            was_gated = counted is None or not counted[1]
            await conn.execute(MARK_COUNTED, previous, now)
        gated = await store.set_requires_approval(conn, pattern_id, True)
        if gated is not None and not (was_gated and gated[1]):
            await demoted(conn, gated[0], incident["id"], f"incident #{incident['incident_number']} is a regression")
        await audit.record(
            conn,
            "runbook.regression",
            incident_id=incident["id"],
            context={"runbook_id": str(pattern_id), "regression_of": str(previous)},
            result={"counted_as_failure": bool(row["uncounted"])},
        )


async def compare(
    conn: asyncpg.Connection, incident: dict[str, Any], actual: list[dict[str, Any]], settings: Settings
) -> None:
    """Score a shadowed or approval-gated proposal against the steps actually taken; ask for promotion
    when the version has earned it."""
    match = await conn.fetchrow(MATCH_FOR, incident["id"])
    if match is None or match["pattern_id"] is None or match["mode"] not in ("shadow", "approval"):
        return
    score = rules.agreement(match["proposed_steps"], actual)
    evidence = await conn.fetchrow(COMPARED, match["pattern_id"], score)
    await audit.record(
        conn,
        "runbook.shadow_compared",
        incident_id=incident["id"],
        context={"runbook_id": str(match["pattern_id"]), "mode": match["mode"]},
        result={"agreement": round(score, 4), "compared": evidence["compared"]},
    )
    due = rules.promotion_due(
        evidence["compared"],
        evidence["agreement_sum"],
        evidence["regressions"],
        min_incidents=settings.promotion_min_incidents,
        min_agreement=settings.promotion_min_agreement,
    )
    if due and evidence["promotion_approval_id"] is None:
        pattern = await store.get(conn, match["pattern_id"])
        if pattern is not None and pattern.current and pattern.requires_approval:
            await _ask_promotion(conn, pattern, evidence["compared"], evidence["agreement_sum"] / evidence["compared"])


async def _ask_promotion(conn: asyncpg.Connection, pattern: Pattern, compared: int, mean: float) -> None:
    details = {
        "summary": f"Let runbook {pattern.pattern_name} (v{pattern.version}) run by itself: it agreed "
        f"{mean:.0%} with what people did on {compared} incidents, with no regression.",
        "runbook_id": str(pattern.id),
        "version": pattern.version,
        "steps": pattern.automated_steps,
        "agreement": round(mean, 4),
        "compared": compared,
    }
    try:
        async with conn.transaction():  # a savepoint: a lost claim takes its approval request back
            await _request(conn, pattern, details)
    except _Lost:
        return


async def _request(conn: asyncpg.Connection, pattern: Pattern, details: dict[str, Any]) -> None:
    approval = await approvals.create(
        conn,
        NewApproval(
            agent_name=bus.SERVICE_AGENT_ID,
            action_type=PROMOTE,
            action_details=details,
            risk_level=RiskLevel.CRITICAL,
            continuation_event_type=PROMOTION_DECIDED,
            continuation_payload={"runbook_id": str(pattern.id), "version": pattern.version},
            expires_in_s=PROMOTION_EXPIRES_S,
        ),
    )
    if await conn.fetchval(CLAIM_PROMOTION, pattern.id, approval.id) is None:
        raise _Lost
    await audit.record(
        conn, "runbook.promotion_requested", incident_id=None, context=details, result={"approval_id": str(approval.id)}
    )


class _Lost(Exception):
    pass


async def settle_promotions(conn: asyncpg.Connection, now: Any) -> int:
    """Apply decided promotion requests: approved clears ``requires_approval``. Returns how many."""
    promoted = await conn.fetch(PROMOTED, now)
    for row in promoted:
        await audit.record(
            conn,
            "runbook.promoted",
            incident_id=None,
            context={"runbook_id": str(row["id"]), "version": row["version"], "approval_id": str(row["approval_id"])},
            result={"requires_approval": False, "approved_by": row["resolved_by"]},
        )
    for row in await conn.fetch(REFUSED):
        await audit.record(
            conn,
            "runbook.promotion_refused",
            incident_id=None,
            context={"runbook_id": str(row["pattern_id"])},
            result={"decision": row["status"]},
        )
    return len(promoted)
