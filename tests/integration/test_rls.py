"""Row level security is enforced by PostgreSQL for the API roles, not only by our code."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

READABLE = ["agent_events", "agent_costs", "sentry_error_mappings", "fix_metrics", "automation_analytics"]
SERVICE_ONLY = [
    "agent_actions",
    "agent_metrics",
    "agent_swarm_config",
    "infrastructure_incidents",
    "runbook_patterns",
    "coding_requests",
    "approval_requests",
]
SAMPLE_ROWS = {
    "agent_events": "INSERT INTO agent_events (source_agent_id, source_agent_type, event_type) VALUES ('a', 't', 'e')",
    "agent_costs": "INSERT INTO agent_costs (agent_id, cost_type, amount_usd) VALUES ('a', 'llm', 0.5)",
    "sentry_error_mappings": "INSERT INTO sentry_error_mappings"
    " (sentry_issue_id, linear_issue_id, error_type, team_key) VALUES ('1', 'ENG-1', 'KeyError', 'ENG')",
    "fix_metrics": "INSERT INTO fix_metrics (error_type) VALUES ('KeyError')",
    "automation_analytics": "INSERT INTO automation_analytics (period_start) VALUES (now())",
    "agent_actions": "INSERT INTO agent_actions (agent_name, action_type, success) VALUES ('a', 'x', true)",
    "agent_metrics": "INSERT INTO agent_metrics (bucket_start, bucket_end, agent_name) VALUES (now(), now(), 'a')",
    "agent_swarm_config": "INSERT INTO agent_swarm_config (config_key, config_value) VALUES ('t.k', '1')",
    "infrastructure_incidents": "INSERT INTO infrastructure_incidents (severity, incident_type, source, title)"
    " VALUES ('low', 'x', 'test', 't')",
    "runbook_patterns": "INSERT INTO runbook_patterns (pattern_name, pattern_type) VALUES ('p', 't')",
    "coding_requests": "INSERT INTO coding_requests (source, source_id, title) VALUES ('test', '1', 't')",
    "approval_requests": "INSERT INTO approval_requests (agent_name, action_type, action_details)"
    " VALUES ('a', 'x', '{}')",
}


@asynccontextmanager
async def as_role(pool: asyncpg.Pool, role: str) -> AsyncIterator[asyncpg.Connection]:
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute(
                "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
                role,
                json.dumps({"role": role}),
            )
            yield conn
        finally:
            await tx.rollback()


@pytest.fixture
async def seeded(pool: asyncpg.Pool) -> asyncpg.Pool:
    for sql in SAMPLE_ROWS.values():
        await pool.execute(sql)
    return pool


@pytest.mark.parametrize("table", READABLE)
async def test_authenticated_reads_what_the_spec_lets_it(seeded: asyncpg.Pool, table: str) -> None:
    async with as_role(seeded, "authenticated") as conn:
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 1


@pytest.mark.parametrize("table", SERVICE_ONLY)
async def test_authenticated_sees_nothing_of_service_role_tables(seeded: asyncpg.Pool, table: str) -> None:
    assert await seeded.fetchval(f"SELECT count(*) FROM {table}") >= 1
    async with as_role(seeded, "authenticated") as conn:
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0


@pytest.mark.parametrize("table", sorted(SAMPLE_ROWS))
async def test_authenticated_writes_nothing(seeded: asyncpg.Pool, table: str) -> None:
    for sql in (SAMPLE_ROWS[table], f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
        async with as_role(seeded, "authenticated") as conn:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)


@pytest.mark.parametrize("table", sorted(SAMPLE_ROWS))
async def test_service_role_does_everything(pool: asyncpg.Pool, table: str) -> None:
    await pool.execute(f"DELETE FROM {table}")  # seeded settings are restored for the next test
    async with as_role(pool, "service_role") as conn:
        seeded = await conn.fetchval(f"SELECT count(*) FROM {table}")  # settings seeded by migrations
        await conn.execute(SAMPLE_ROWS[table])
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == seeded + 1
        assert await conn.execute(f"UPDATE {table} SET id = id") == f"UPDATE {seeded + 1}"
        assert await conn.execute(f"DELETE FROM {table}") == f"DELETE {seeded + 1}"


async def test_public_policies_check_the_claimed_role(seeded: asyncpg.Pool) -> None:
    """A connection in the service_role DB role but with another claim gets nothing from a {public} policy."""
    async with seeded.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT set_config('role', 'service_role', true), set_config('request.jwt.claims', $1, true)",
            json.dumps({"role": "anon"}),
        )
        assert await conn.fetchval("SELECT count(*) FROM approval_requests") == 0
