"""The audit trail: ``agent_actions`` rows, written and read as the caller (the seed keeps the table to
service_role, so RLS shows authenticated callers nothing). Every seed column can be set."""

from __future__ import annotations

import itertools
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
# WHERE composed from fixed fragments per filter combination (built once): each prepared statement keeps
# an index-driven plan (agent_actions_agent_page_idx with an agent, else agent_actions_page_idx), where
# "($1 IS NULL OR ...)" would leave a generic plan only a scan. Keyset page: rows before a cursor.
LIST_FILTERS = (
    ("agent", "agent_name = ${}"),
    ("since", "created_at >= ${}"),
    ("before", "(created_at, id) < (${}::timestamptz, ${}::uuid)"),
)


def _list_sql(used: tuple[bool, ...]) -> str:
    clauses, n = [], 0
    for (_, fragment), on in zip(LIST_FILTERS, used, strict=True):
        if on:
            places = fragment.count("{}")
            clauses.append(fragment.format(*range(n + 1, n + 1 + places)))
            n += places
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return f"SELECT * FROM agent_actions {where} ORDER BY created_at DESC, id DESC LIMIT ${n + 1}"


# RLS prices its per-row qual at 0.5%: without this a deep page is a bitmap scan and sort of every match.
INDEX_PLANS = "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)"
LIST = {used: _list_sql(used) for used in itertools.product((False, True), repeat=len(LIST_FILTERS))}


def _json(r: asyncpg.Record) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in r.items()}


async def record(
    conn: asyncpg.Connection, fields: dict[str, Any], created_at: datetime | None = None
) -> dict[str, Any]:
    """Insert one action (``fields`` by column name; seed defaults for what is missing)."""
    values = [fields.get(k, DEFAULTS.get(k)) for k in COLUMNS]
    return _json(await conn.fetchrow(INSERT, *values, created_at))


async def recent(
    conn: asyncpg.Connection,
    agent: str | None,
    since: datetime | None,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None = None,
) -> list[dict[str, Any]]:
    """Newest first (created_at, then id, descending); rows before ``before`` (created_at, id) when given.
    Call in a transaction (it sets the planner settings of the list for it)."""
    given: list[Any] = [v for v in (agent, since) if v is not None]
    if before is not None:
        given.extend(before)
    sql = LIST[(agent is not None, since is not None, before is not None)]
    await conn.execute(INDEX_PLANS)
    return [_json(r) for r in await conn.fetch(sql, *given, limit)]
