"""The audit trail: ``agent_actions`` rows, written and read as the caller (the seed keeps the table to
service_role, so RLS shows authenticated callers nothing). Every seed column can be set."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

COLUMNS = (
    "agent_name",
    "agent_version",
    "action_type",
    "action_category",
    "incident_id",
    "helpdesk_ticket_id",
    "coding_request_id",
    "input_context",
    "output_result",
    "success",
    "error_message",
    "execution_time_ms",
    "workflow_run_id",
    "workflow_job_id",
    "requires_approval",
    "approval_status",
    "approved_by",
    "approved_at",
)
DEFAULTS: dict[str, Any] = {
    "agent_version": "1.0.0",
    "input_context": {},
    "output_result": {},
    "requires_approval": False,
}
INSERT = f"""
INSERT INTO agent_actions ({", ".join(COLUMNS)}, created_at)
VALUES ({", ".join(f"${i + 1}" for i in range(len(COLUMNS)))}, coalesce(${len(COLUMNS) + 1}, now()))
RETURNING *
"""
LIST = """
SELECT * FROM agent_actions
WHERE ($1::text IS NULL OR agent_name = $1) AND ($2::timestamptz IS NULL OR created_at >= $2)
ORDER BY created_at DESC, id
LIMIT $3
"""


def _json(r: asyncpg.Record) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in r.items()}


async def record(
    conn: asyncpg.Connection, fields: dict[str, Any], created_at: datetime | None = None
) -> dict[str, Any]:
    """Insert one action (``fields`` by column name; seed defaults for what is missing)."""
    values = [fields.get(k, DEFAULTS.get(k)) for k in COLUMNS]
    return _json(await conn.fetchrow(INSERT, *values, created_at))


async def recent(
    conn: asyncpg.Connection, agent: str | None, since: datetime | None, limit: int
) -> list[dict[str, Any]]:
    return [_json(r) for r in await conn.fetch(LIST, agent, since, limit)]
