"""The runbooks API: write, edit as a version, read with its chain; outcomes exact under concurrent
reports; demotion on a failed execution; promotion through the critical approvers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from domain.approvals import store as approvals
from domain.approvals.rules import Decision
from tests.conftest import bearer
from tests.integration.runbooks.helpers import RESTART, T0, open_incident, resolve, tick

BODY = {
    "pattern_name": "payments: pool exhausted",
    "pattern_type": "application_error",
    "trigger_conditions": {"error_type": "PoolTimeout", "services": ["payments"]},
    "automated_steps": RESTART,
    "description": "QueuePool limit reached; restart the pool",
}


async def write(client: TestClient[Any, Any], body: dict[str, Any] = BODY) -> dict[str, Any]:
    answer = await client.post("/api/v1/runbooks", json=body, headers=bearer())
    assert answer.status == 201, await answer.text()
    created: dict[str, Any] = await answer.json()
    return created


async def test_write_edit_and_read_a_runbook_with_its_versions(client: TestClient[Any, Any]) -> None:
    v1 = await write(client)
    assert v1["version"] == 1 and v1["requires_approval"] is True
    edit = await client.put(
        f"/api/v1/runbooks/{v1['id']}", json={"automated_steps": [{"action": "failover"}]}, headers=bearer()
    )
    assert edit.status == 201
    v2 = await edit.json()
    assert v2["version"] == 2 and v2["previous_version_id"] == v1["id"] and v2["pattern_name"] == BODY["pattern_name"]
    assert (await client.put(f"/api/v1/runbooks/{v1['id']}", json={"description": "x"}, headers=bearer())).status == 409
    one = await (await client.get(f"/api/v1/runbooks/{v2['id']}", headers=bearer())).json()
    assert [v["version"] for v in one["versions"]] == [2, 1]
    assert one["versions"][1]["pattern_name"] == BODY["pattern_name"] + " (v1)"
    listed = await (await client.get("/api/v1/runbooks?type=application_error", headers=bearer())).json()
    assert [r["id"] for r in listed["runbooks"]] == [v2["id"]]
    assert (await client.post("/api/v1/runbooks", json=BODY, headers=bearer())).status == 409


async def test_steps_and_conditions_are_validated_and_authenticated_reads_nothing(client: TestClient[Any, Any]) -> None:
    for bad in (
        {**BODY, "automated_steps": [{"target": "x"}]},
        {**BODY, "automated_steps": [{"action": "x", "extra": 1}]},
        {**BODY, "trigger_conditions": {"severity": "apocalyptic"}},
        {**BODY, "trigger_conditions": {"services": "payments"}},
    ):
        assert (await client.post("/api/v1/runbooks", json=bad, headers=bearer())).status == 400
    v1 = await write(client)
    assert (await client.post("/api/v1/runbooks", json=BODY, headers=bearer("authenticated"))).status == 403
    listed = await (await client.get("/api/v1/runbooks", headers=bearer("authenticated"))).json()
    assert listed == {"runbooks": []}
    assert (await client.get(f"/api/v1/runbooks/{v1['id']}", headers=bearer("authenticated"))).status == 404


async def test_concurrent_outcome_reports_are_all_counted_exactly(
    pool: asyncpg.Pool, client: TestClient[Any, Any]
) -> None:
    v1 = await write(client)
    reports = [
        client.post(
            f"/api/v1/runbooks/{v1['id']}/outcome",
            json={"incident_id": str(uuid.uuid4()), "success": True, "resolution_time_ms": 1000 * (n + 1)},
            headers=bearer(),
        )
        for n in range(20)
    ]
    answers = await asyncio.gather(*reports)
    assert [a.status for a in answers] == [200] * 20
    row = await pool.fetchrow("SELECT * FROM runbook_patterns WHERE id = $1", uuid.UUID(v1["id"]))
    assert (row["usage_count"], row["success_count"], row["failure_count"]) == (20, 20, 0)
    assert row["avg_resolution_time_ms"] == 10500 and row["last_used_at"] is not None
    again = await client.post(
        f"/api/v1/runbooks/{v1['id']}/outcome",
        json={"incident_id": str(uuid.uuid4()), "success": "yes"},
        headers=bearer(),
    )
    assert again.status == 400


async def test_a_failed_automatic_execution_demotes_the_runbook(
    pool: asyncpg.Pool, client: TestClient[Any, Any]
) -> None:
    v1 = await write(client, {**BODY, "requires_approval": False})
    incident = await open_incident(pool)
    answer = await client.post(
        f"/api/v1/runbooks/{v1['id']}/outcome",
        json={"incident_id": str(incident["id"]), "success": False},
        headers=bearer(),
    )
    body = await answer.json()
    assert body["demoted"] is True and body["requires_approval"] is True and body["failure_count"] == 1
    event = await pool.fetchrow("SELECT * FROM agent_events WHERE event_type = 'runbook.demoted'")
    assert event["payload"]["runbook_id"] == v1["id"] and event["correlation_id"] == incident["id"]
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'runbooks.thread'") == 1
    again = await client.post(
        f"/api/v1/runbooks/{v1['id']}/outcome",
        json={"incident_id": str(incident["id"]), "success": False},
        headers=bearer(),
    )
    assert (await again.json())["counted"] is False  # one outcome per incident


async def test_agreement_over_ten_incidents_asks_the_critical_approvers_and_approval_promotes(
    pool: asyncpg.Pool,
) -> None:
    first = await open_incident(pool, "db-primary-1")
    await resolve(pool, first["id"], RESTART, T0)
    await tick(pool)
    for n in range(10):
        incident = await open_incident(pool, f"db-replica-{n + 2}")
        await tick(pool)
        assert (
            await pool.fetchval("SELECT mode FROM runbook_matches WHERE incident_id = $1", incident["id"]) == "shadow"
        )
        await resolve(pool, incident["id"], RESTART, T0)
        await tick(pool)
    evidence = await pool.fetchrow("SELECT * FROM runbook_evidence")
    assert evidence["compared"] == 10 and evidence["agreement_sum"] == 10.0
    approval = await pool.fetchrow("SELECT * FROM approval_requests WHERE id = $1", evidence["promotion_approval_id"])
    assert approval["action_type"] == "runbook.promote" and approval["risk_level"] == "critical"
    assert await pool.fetchval("SELECT requires_approval FROM runbook_patterns") is True
    async with pool.acquire() as conn, conn.transaction():
        assert (await approvals.decide(conn, approval["id"], Decision.APPROVED, by="U0LEAD")).won
    assert (await tick(pool))["promoted"] == 1
    assert await pool.fetchval("SELECT requires_approval FROM runbook_patterns") is False
    steps = await pool.fetch("SELECT action_type FROM agent_actions WHERE action_type LIKE 'runbook.promot%'")
    assert [s["action_type"] for s in steps] == ["runbook.promotion_requested", "runbook.promoted"]
