"""Precedent from the database: earlier decisions of the same agent and action type, and what followed.

What followed is the first incident on the same service (``action_details.service`` among the incident's
``affected_services``) within seven days of the decision; regressions reopen or open incidents, so they
count there too.
"""

from __future__ import annotations

import asyncpg

from domain.approvals.precedent import AFTERMATH_DAYS, Earlier, Precedent, aftermath_text, most_similar, service_of
from domain.approvals.rules import Approval

CANDIDATES = 200
EARLIER = """
SELECT id, action_details, status, rejection_reason, resolved_at FROM approval_requests
WHERE agent_name = $1 AND action_type = $2 AND status IN ('approved', 'rejected') AND id <> $3
  AND resolved_at IS NOT NULL
ORDER BY resolved_at DESC
LIMIT $4
"""
AFTERMATH = """
SELECT incident_number, severity, extract(epoch FROM created_at - $2) / 86400.0 AS days_after
FROM infrastructure_incidents
WHERE affected_services @> ARRAY[$1::text] AND created_at > $2 AND created_at <= $2 + make_interval(days => $3)
ORDER BY created_at
LIMIT 1
"""


async def precedents(conn: asyncpg.Connection | asyncpg.Pool, approval: Approval) -> list[Precedent]:
    """The three most similar earlier decisions, each with what happened on its service afterwards."""
    rows = await conn.fetch(EARLIER, approval.agent_name, approval.action_type, approval.id, CANDIDATES)
    earlier = [
        Earlier(r["id"], r["action_details"] or {}, r["status"], r["rejection_reason"], r["resolved_at"]) for r in rows
    ]
    found: list[Precedent] = []
    for p in most_similar(approval.action_details, earlier):
        service = service_of(p.earlier.action_details)
        after = None
        if service is not None:
            hit = await conn.fetchrow(AFTERMATH, service, p.earlier.decided_at, AFTERMATH_DAYS)
            after = aftermath_text(
                hit["incident_number"] if hit else None,
                hit["severity"] if hit else None,
                float(hit["days_after"]) if hit else None,
            )
        found.append(Precedent(p.earlier, p.score, after))
    return found
