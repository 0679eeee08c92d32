"""Past incidents ranked by similarity to one incident (pgvector cosine on the incidents' HNSW index)."""

from __future__ import annotations

from typing import Any

import asyncpg

from domain.runbooks.embedders import Embedder

INCIDENT = "SELECT *, embedding IS NOT NULL AS embedded FROM infrastructure_incidents WHERE id = $1"
VECTOR = "SELECT embedding::real[] FROM infrastructure_incidents WHERE id = $1"
# The nearest by the index (one more than asked, the incident itself is among them), then their links:
# the Linear issue, and the pull requests of their fixes (fix_metrics by Sentry issue or Linear issue).
RANKED = """
SELECT i.id, i.incident_number, i.title, i.status, i.severity, i.incident_type, i.affected_services,
       i.resolution_summary, i.resolved_at, i.created_at, i.linear_issue_id, i.sentry_issue_id,
       1 - i.distance AS score,
       ARRAY(SELECT DISTINCT f.github_pr_url FROM fix_metrics f
             WHERE f.github_pr_url IS NOT NULL
               AND ((i.sentry_issue_id IS NOT NULL AND f.sentry_issue_id = i.sentry_issue_id)
                 OR (i.linear_issue_id IS NOT NULL AND f.linear_issue_id = i.linear_issue_id))) AS pr_urls
FROM (
    SELECT *, embedding <=> $1::real[]::vector AS distance FROM infrastructure_incidents
    ORDER BY embedding <=> $1::real[]::vector
    LIMIT $3 + 1
) i
WHERE i.id <> $2 AND i.distance IS NOT NULL
ORDER BY i.distance
LIMIT $3
"""


async def ranked(
    conn: asyncpg.Connection, incident: dict[str, Any], embedder: Embedder, limit: int
) -> list[dict[str, Any]]:
    """The ``limit`` most similar other incidents; the incident's stored embedding, or one made now."""
    vector = await conn.fetchval(VECTOR, incident["id"]) if incident.get("embedded") else None
    vector = list(vector) if vector is not None else embedder.embed(incident)
    out = []
    for r in await conn.fetch(RANKED, vector, incident["id"], limit):
        out.append(
            {
                "id": str(r["id"]),
                "incident_number": r["incident_number"],
                "title": r["title"],
                "status": r["status"],
                "severity": r["severity"],
                "incident_type": r["incident_type"],
                "affected_services": r["affected_services"],
                "score": round(float(r["score"]), 4),
                "resolution_summary": r["resolution_summary"],
                "resolved_at": r["resolved_at"].isoformat() if r["resolved_at"] else None,
                "created_at": r["created_at"].isoformat(),
                "linear_issue_id": r["linear_issue_id"],
                "sentry_issue_id": r["sentry_issue_id"],
                "pr_urls": list(r["pr_urls"]),
            }
        )
    return out
