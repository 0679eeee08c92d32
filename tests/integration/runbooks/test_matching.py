"""Matching every new incident, the four modes, runbook_match and similar incidents through the API."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.conftest import bearer
from tests.integration.runbooks.helpers import DAY, RESTART, T0, open_incident, resolve, tick


async def learned(pool: asyncpg.Pool, **counters: Any) -> asyncpg.Record:
    first = await open_incident(pool, "db-primary-3")
    await resolve(pool, first["id"], RESTART, T0)
    await tick(pool)
    sets = ", ".join(f"{k} = ${i + 1}" for i, k in enumerate(counters))
    if sets:
        await pool.execute(f"UPDATE runbook_patterns SET {sets}", *counters.values())
    return await pool.fetchrow("SELECT * FROM runbook_patterns")


async def test_a_new_pattern_is_shadowed_and_the_match_is_in_the_incident_answer(
    pool: asyncpg.Pool, client: TestClient[Any, Any]
) -> None:
    pattern = await learned(pool)
    incident = await open_incident(pool, "db-replica-12", 6432)
    await tick(pool, T0 + DAY / 10)
    answer = await (await client.get(f"/api/v1/incidents/{incident['id']}", headers=bearer())).json()
    match = answer["runbook_match"]
    assert match["runbook_id"] == str(pattern["id"]) and match["version"] == 1 and match["mode"] == "shadow"
    assert match["pattern_name"] == pattern["pattern_name"] and match["score"] >= 0.88
    text = await pool.fetchval("SELECT payload->>'text' FROM outbox WHERE kind = 'runbooks.thread'")
    assert text == f"looks like {pattern['pattern_name']} (v1): resolved 0 of 0 times [shadow]"
    assert await pool.fetchval("SELECT count(*) FROM agent_events WHERE event_type = 'runbook.execute'") == 0


async def test_an_unrelated_incident_matches_nothing(pool: asyncpg.Pool, client: TestClient[Any, Any]) -> None:
    await learned(pool)
    other = await open_incident(
        pool,
        title="OOMKilled: worker-5f7c9 exceeded memory limit",
        message="exit 137",
        services=("worker",),
        details={"error_type": "OOMKilled"},
    )
    await tick(pool)
    answer = await (await client.get(f"/api/v1/incidents/{other['id']}", headers=bearer())).json()
    assert answer["runbook_match"] is None


async def test_auto_mode_emits_runbook_execute_to_the_executor(pool: asyncpg.Pool) -> None:
    pattern = await learned(pool, requires_approval=False, success_count=25, usage_count=25)
    incident = await open_incident(pool, "db-replica-4")
    await tick(pool)
    event = await pool.fetchrow("SELECT * FROM agent_events WHERE event_type = 'runbook.execute'")
    assert event["target_agent_ids"] == ["runbook-executor"] and event["correlation_id"] == incident["id"]
    assert event["payload"]["runbook_id"] == str(pattern["id"]) and event["payload"]["steps"] == RESTART
    assert event["payload"]["version"] == 1 and event["payload"]["incident_id"] == str(incident["id"])
    assert await pool.fetchval("SELECT mode FROM runbook_matches WHERE incident_id = $1", incident["id"]) == "auto"
    assert await pool.fetchval("SELECT count(*) FROM agent_actions WHERE action_type = 'runbook.matched.auto'") == 1


async def test_three_of_three_is_not_enough_evidence_for_auto(pool: asyncpg.Pool) -> None:
    await learned(pool, requires_approval=False, success_count=3, usage_count=3)
    incident = await open_incident(pool, "db-replica-4")
    await tick(pool)
    assert await pool.fetchval("SELECT mode FROM runbook_matches WHERE incident_id = $1", incident["id"]) == "shadow"


async def test_approval_mode_asks_through_the_approvals_flow(pool: asyncpg.Pool) -> None:
    pattern = await learned(pool, requires_approval=True, success_count=25, usage_count=25)
    incident = await open_incident(pool, "db-replica-4", severity="critical")
    await tick(pool)
    approval = await pool.fetchrow("SELECT * FROM approval_requests")
    assert approval["action_type"] == "runbook.execute" and approval["risk_level"] == "critical"
    assert approval["agent_name"] == "runbook-executor" and approval["continuation_event_type"] == "runbook.execute"
    assert approval["action_details"]["steps"] == RESTART
    assert approval["continuation_payload"]["runbook_id"] == str(pattern["id"])
    assert (
        await pool.fetchval("SELECT approval_id FROM runbook_matches WHERE incident_id = $1", incident["id"])
        == approval["id"]
    )
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'slack.approval.post'") == 1


async def test_suggest_mode_only_tells_the_thread(pool: asyncpg.Pool) -> None:
    await learned(pool, requires_approval=False, success_count=1, failure_count=4, usage_count=5)
    incident = await open_incident(pool, "db-replica-4")
    await tick(pool)
    assert await pool.fetchval("SELECT mode FROM runbook_matches WHERE incident_id = $1", incident["id"]) == "suggest"
    assert await pool.fetchval("SELECT count(*) FROM agent_events WHERE event_type = 'runbook.execute'") == 0
    assert await pool.fetchval("SELECT count(*) FROM approval_requests") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'runbooks.thread'") == 1


async def test_similar_incidents_rank_past_ones_with_their_resolution_even_without_a_pattern(
    pool: asyncpg.Pool, client: TestClient[Any, Any]
) -> None:
    same = await open_incident(pool, "db-primary-3")
    await resolve(pool, same["id"], None, T0)
    await pool.execute(
        "UPDATE infrastructure_incidents SET resolution_summary = 'restarted the pool', linear_issue_id = 'ENG-7'"
        " WHERE id = $1",
        same["id"],
    )
    other = await open_incident(pool, title="OOMKilled: worker exceeded memory limit", services=("worker",), details={})
    await tick(pool)
    assert await pool.fetchval("SELECT count(*) FROM runbook_patterns") == 0
    now = await open_incident(pool, "db-replica-8", 5433)  # not embedded yet: embedded on the fly
    answer = await client.get(f"/api/v1/incidents/{now['id']}/similar?limit=5", headers=bearer())
    assert answer.status == 200
    ranked = (await answer.json())["similar"]
    assert [r["id"] for r in ranked] == [str(same["id"]), str(other["id"])]
    assert ranked[0]["score"] > 0.88 > ranked[1]["score"]
    assert ranked[0]["status"] == "resolved" and ranked[0]["resolution_summary"] == "restarted the pool"
    assert ranked[0]["linear_issue_id"] == "ENG-7" and ranked[0]["pr_urls"] == []
    assert (await client.get(f"/api/v1/incidents/{now['id']}/similar", headers=bearer("authenticated"))).status == 404
