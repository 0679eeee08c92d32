"""Keyset pages of the list endpoints (incidents, actions, coding requests): every row once, newest first,
ties on created_at broken by the unique key, filters kept across pages; and every statement variant
index-driven (no sequential scan even where the planner is told to avoid them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from domain.coding_requests import store as coding_requests
from domain.incidents import store as incidents
from domain.ledger import actions
from handlers.api import paging
from tests.conftest import bearer

SERVICE = bearer(expires_in=3600)  # module-level: valid however long the suite runs
SAME_TIME = datetime(2026, 11, 27, 10, tzinfo=UTC)
# 12 incidents, four of them at one instant (the tiebreak decides their order across page boundaries).
INCIDENTS = """
INSERT INTO infrastructure_incidents (severity, status, incident_type, source, title, affected_services, created_at)
SELECT (ARRAY['low', 'high'])[1 + g % 2], (ARRAY['detected', 'resolved', 'acknowledged'])[1 + g % 3], 'error',
       'sentry', 'incident ' || g, CASE WHEN g % 4 = 0 THEN ARRAY['api', 'db'] ELSE ARRAY['web'] END,
       CASE WHEN g <= 4 THEN $1::timestamptz ELSE $1::timestamptz - make_interval(mins => g) END
FROM generate_series(1, 12) g
"""
ACTIONS = """
INSERT INTO agent_actions (agent_name, action_type, success, created_at)
SELECT (ARRAY['fixer', 'triager'])[1 + g % 2], 'restart', true,
       CASE WHEN g <= 5 THEN $1::timestamptz ELSE $1::timestamptz - make_interval(mins => g) END
FROM generate_series(1, 11) g
"""
CODING = """
INSERT INTO coding_requests (source, source_id, title, status, created_at)
SELECT 'slack', 'page-' || g, 'request ' || g, (ARRAY['pending', 'planning'])[1 + g % 2],
       CASE WHEN g <= 3 THEN $1::timestamptz ELSE $1::timestamptz - make_interval(mins => g) END
FROM generate_series(1, 9) g
"""


async def pages(client: TestClient[Any, Any], url: str, field: str) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    calls, cursor = 0, None
    while True:
        params = {"cursor": cursor} if cursor else {}
        response = await client.get(url, params=params, headers=SERVICE)
        assert response.status == 200, await response.text()
        body = await response.json()
        rows.extend(body[field])
        calls += 1
        cursor = body["next"]
        if cursor is None:
            return rows, calls


def newest_first(rows: list[dict[str, Any]], key: str) -> bool:
    keys = [(r["created_at"], r[key]) for r in rows]
    return keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)


async def test_incident_pages_cover_every_filter_once(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    await pool.execute(INCIDENTS, SAME_TIME)
    for query, expected in (("", 12), ("?status=resolved", 4), ("?severity=high", 6), ("?service=db", 3)):
        everything = await (await client.get(f"/api/v1/incidents{query}", headers=SERVICE)).json()
        assert len(everything["incidents"]) == expected and everything["next"] is None
        sep = "&" if query else "?"
        rows, calls = await pages(client, f"/api/v1/incidents{query}{sep}limit=3", "incidents")
        assert [r["id"] for r in rows] == [r["id"] for r in everything["incidents"]], query
        assert newest_first(rows, "incident_number") and calls == expected // 3 + (1 if expected % 3 else 0)
    both, _ = await pages(client, "/api/v1/incidents?service=api&status=detected&limit=1", "incidents")
    assert {(r["status"], "api" in r["affected_services"]) for r in both} == {("detected", True)} and len(both) == 1


async def test_an_incident_is_listed_under_its_services_as_they_change(
    client: TestClient[Any, Any], pool: asyncpg.Pool
) -> None:
    """?service= reads incident_services, which a trigger keeps equal to every incident's affected_services."""
    incident = await pool.fetchval(
        "INSERT INTO infrastructure_incidents (severity, incident_type, source, title, affected_services)"
        " VALUES ('low', 'error', 'sentry', 'moving', ARRAY['api', 'api', 'db', NULL]) RETURNING id::text"
    )

    async def listed(service: str) -> list[str]:
        body = await (await client.get(f"/api/v1/incidents?service={service}", headers=SERVICE)).json()
        return [r["id"] for r in body["incidents"]]

    assert (await listed("api"), await listed("db"), await listed("web")) == ([incident], [incident], [])
    await pool.execute("UPDATE infrastructure_incidents SET affected_services = ARRAY['web'] WHERE id = $1", incident)
    assert (await listed("api"), await listed("db"), await listed("web")) == ([], [], [incident])
    await pool.execute("UPDATE infrastructure_incidents SET title = 'renamed' WHERE id = $1", incident)
    assert await listed("web") == [incident]
    await pool.execute("DELETE FROM infrastructure_incidents WHERE id = $1", incident)
    assert await listed("web") == [] and await pool.fetchval("SELECT count(*) FROM incident_services") == 0


async def test_action_pages_by_agent_and_since(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    await pool.execute(ACTIONS, SAME_TIME)
    rows, calls = await pages(client, "/api/v1/actions?limit=2", "actions")
    assert len(rows) == 11 and calls == 6 and newest_first(rows, "id")
    fixer, _ = await pages(client, "/api/v1/actions?agent=fixer&limit=2", "actions")
    assert len(fixer) == 5 and {r["agent_name"] for r in fixer} == {"fixer"} and newest_first(fixer, "id")
    recent, _ = await pages(client, "/api/v1/actions?since=2026-11-27T09:52:00Z&limit=2", "actions")
    assert len(recent) == 8 and newest_first(recent, "id")


async def test_coding_request_pages_by_status(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    await pool.execute(CODING, SAME_TIME)
    rows, calls = await pages(client, "/api/v1/coding-requests?limit=2", "coding_requests")
    assert len(rows) == 9 and calls == 5 and newest_first(rows, "request_number")
    planning, _ = await pages(client, "/api/v1/coding-requests?status=planning&limit=2", "coding_requests")
    assert len(planning) == 5 and {r["status"] for r in planning} == {"planning"}


@pytest.mark.parametrize(
    "url", ["/api/v1/incidents", "/api/v1/actions", "/api/v1/coding-requests", "/api/v1/incidents?status=resolved"]
)
@pytest.mark.parametrize(
    "cursor",
    [
        "nope",
        "x" * 201,
        paging.encode(datetime.now(UTC), 1) + "!",
        "WyIyMDI2LTExLTI3VDEwOjAwOjAwIiwxXQ",  # a naive timestamp
        "WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzE0OjAwIiwxXQ",  # year 1 with +14:00
        "WyIyMDI2LTExLTI3VDEwOjAwOjAwKzAwOjAwIiwiYSJd",  # key "a"
        "WyIyMDI2LTExLTI3VDEwOjAwOjAwKzAwOjAwIiw5OTk5OTk5OTk5OTld",  # key out of int range
        "e30",  # {}
    ],
)
async def test_a_cursor_we_did_not_give_is_400(client: TestClient[Any, Any], url: str, cursor: str) -> None:
    response = await client.get(url, params={"cursor": cursor}, headers=SERVICE)
    assert response.status == 400 and "cursor" in (await response.json())["error"]


PLANS = [
    *(("incidents", sql, combo) for combo, sql in incidents.LIST.items()),
    *(("actions", sql, combo) for combo, sql in actions.LIST.items()),
    *(("coding_requests", sql, combo) for combo, sql in coding_requests.LIST.items()),
]


INDEXED = {"incidents": ("status", "severity", "service"), "actions": ("agent_name",), "coding_requests": ()}


@pytest.mark.parametrize(("table", "sql", "combo"), PLANS)
async def test_every_list_statement_is_served_by_an_index(
    pool: asyncpg.Pool, table: str, sql: str, combo: tuple[bool, ...]
) -> None:
    """With sequential scans priced out, an equality or membership filter of each variant must be an index
    condition: ``$1 = ANY(affected_services)`` (the GIN index cannot serve it) or ``($1 IS NULL OR
    col = $1)`` leave it a Filter over a whole index instead."""
    now = datetime.now(UTC)
    if table == "incidents":
        args: list[Any] = [v for v, on in zip(["resolved", "high", "db"], combo[:3], strict=True) if on]
        args += [now, 5] if combo[3] else []
        columns = [c for c, on in zip(INDEXED[table], combo[:3], strict=True) if on]
    elif table == "actions":
        agent, since, before = combo
        args = (["fixer"] if agent else []) + ([now] if since else []) + ([now, uuid.uuid4()] if before else [])
        columns = ["agent_name"] if agent else []
    else:
        status, before = combo
        args = ([now, 5] if before else []) + (["planning"] if status else [])
        columns = ["status"] if status else []
    literals = ", ".join(f"'{a}'" for a in [*args, 10])
    async with pool.acquire() as conn, conn.transaction():
        # The plan a prepared statement falls back to after five executions: it must hold for any value.
        await conn.execute("SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE listing AS {sql}")
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN EXECUTE listing({literals})"))
        await conn.execute("DEALLOCATE listing")
    assert "Seq Scan" not in plan, plan
    if columns:
        conditions = [line for line in plan.splitlines() if "Index Cond" in line or "Recheck Cond" in line]
        assert any(column in line for line in conditions for column in columns), plan
