"""Helpers of the runbooks tests: incidents opened and resolved through the incidents' own functions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from domain.incidents import store as incidents
from domain.incidents.rules import Transition
from domain.incidents.store import NewIncident
from domain.runbooks import runner

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
RESTART = [{"action": "restart", "target": "payments-db-pool"}, {"action": "verify", "target": "payments"}]
FAILOVER = [{"action": "failover", "target": "payments-db"}]


async def open_incident(pool: asyncpg.Pool, host: str = "db-primary-3", port: int = 5432, **kw: Any) -> dict[str, Any]:
    new = NewIncident(
        severity=kw.get("severity", "high"),
        incident_type=kw.get("incident_type", "application_error"),
        source="sentry",
        source_id=uuid.uuid4().hex,
        title=kw.get("title", f"ConnectionRefusedError: connection to server at {host}, port {port} failed"),
        error_message=kw.get("message", f'could not connect to server "{host}.payments.internal" on port {port}'),
        error_details=kw.get("details", {"error_type": "OperationalError"}),
        affected_services=kw.get("services", ("payments",)),
    )
    async with pool.acquire() as conn, conn.transaction():
        incident = await incidents.open_incident(conn, new, now=kw.get("at", T0))
    return incident.row


async def resolve(pool: asyncpg.Pool, incident_id: uuid.UUID, steps: list[dict[str, Any]] | None, at: datetime) -> None:
    async with pool.acquire() as conn, conn.transaction():
        done = await incidents.transition(conn, incident_id, Transition.RESOLVE, now=at, by="oncall", steps=steps)
    assert done is not None


async def tick(pool: asyncpg.Pool, at: datetime = T0) -> dict[str, Any]:
    return await runner.run_once(pool, now=at)


async def pattern_rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM runbook_patterns ORDER BY version, created_at")


async def actions(pool: asyncpg.Pool, prefix: str = "runbook.") -> list[str]:
    rows = await pool.fetch(
        "SELECT action_type FROM agent_actions WHERE action_type LIKE $1 ORDER BY created_at, id", prefix + "%"
    )
    return [r["action_type"] for r in rows]
