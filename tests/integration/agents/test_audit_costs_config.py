"""Actions, costs (exact decimals, budgets alerting once a day) and runtime config, over HTTP with both roles."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from app import wire
from config import Config
from domain.ledger import costs
from jobs import outbox
from tests.conftest import bearer
from tests.fakes.slack import fake_slack

SERVICE = bearer("service_role", sub="ops-agent")
WAITING_ON_AN_ADVISORY_LOCK = "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
READER = bearer("authenticated")


async def test_actions_are_recorded_with_every_seed_column_and_hidden_from_authenticated(
    client: TestClient[Any, Any],
) -> None:
    incident = str(uuid.uuid4())
    body = {
        "agent_name": "fixer",
        "action_type": "restart_service",
        "action_category": "remediation",
        "incident_id": incident,
        "input_context": {"service": "api"},
        "output_result": {"restarted": True},
        "success": False,
        "error_message": "timeout",
        "execution_time_ms": 1234,
        "workflow_run_id": "99",
        "workflow_job_id": "7",
        "requires_approval": True,
        "approval_status": "approved",
        "approved_by": "U123",
        "approved_at": "2026-11-27T10:00:00Z",
    }
    response = await client.post("/api/v1/actions", json=body, headers=SERVICE)
    assert response.status == 201, await response.text()
    row = await response.json()
    assert {k: row[k] for k in body if k != "approved_at"} == {k: v for k, v in body.items() if k != "approved_at"}
    assert row["agent_version"] == "1.0.0" and row["approved_at"].startswith("2026-11-27 10:00:00")

    refused = await client.post("/api/v1/actions", json=body, headers=READER)
    assert refused.status == 403
    listed = await (await client.get("/api/v1/actions", params={"agent": "fixer"}, headers=SERVICE)).json()
    assert [a["id"] for a in listed["actions"]] == [row["id"]]
    hidden = await client.get("/api/v1/actions", headers=READER)
    assert hidden.status == 200 and (await hidden.json())["actions"] == []
    later = await (
        await client.get("/api/v1/actions", params={"since": "2999-01-01T00:00:00Z"}, headers=SERVICE)
    ).json()
    assert later["actions"] == []
    bad = await client.post("/api/v1/actions", json={"agent_name": "x"}, headers=SERVICE)
    assert bad.status == 400 and "required property" in (await bad.json())["error"]


async def test_costs_are_exact_and_summarised(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    amounts = [("a", "llm", "0.1"), ("a", "llm", "0.2"), ("b", "compute", 0.3), ("a", "compute", "1.000000001")]
    for agent, kind, amount in amounts:
        response = await client.post(
            "/api/v1/costs", json={"agent_id": agent, "cost_type": kind, "amount_usd": amount}, headers=SERVICE
        )
        assert response.status == 201, await response.text()
    # Exactly 0.3, not 0.30000000000000004: the JSON number was read as a decimal, stored as numeric.
    assert await pool.fetchval("SELECT sum(amount_usd) FROM agent_costs WHERE cost_type = 'llm'") == Decimal("0.3")
    by_agent = await (await client.get("/api/v1/costs/summary", headers=READER)).json()
    assert by_agent["groups"] == [
        {"key": "a", "total_usd": "1.300000001", "entries": 3},
        {"key": "b", "total_usd": "0.3", "entries": 1},
    ]
    by_type = await (await client.get("/api/v1/costs/summary", params={"group_by": "cost_type"}, headers=READER)).json()
    assert [(g["key"], g["total_usd"]) for g in by_type["groups"]] == [("compute", "1.300000001"), ("llm", "0.3")]
    by_day = await (await client.get("/api/v1/costs/summary", params={"group_by": "day"}, headers=SERVICE)).json()
    assert len(by_day["groups"]) == 1 and by_day["groups"][0]["entries"] == 4
    none = await (await client.get("/api/v1/costs/summary", params={"from": "2999-01-01"}, headers=SERVICE)).json()
    assert none["groups"] == []
    refused = await client.post(
        "/api/v1/costs", json={"agent_id": "a", "cost_type": "llm", "amount_usd": "1"}, headers=READER
    )
    assert refused.status == 403
    assert (await client.get("/api/v1/costs/summary", params={"group_by": "week"}, headers=SERVICE)).status == 400


async def test_crossing_a_daily_budget_alerts_once(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    put = await client.put(
        "/api/v1/config/costs.daily_budgets_usd", json={"value": {"spender": "1.00", "*": "100"}}, headers=SERVICE
    )
    assert put.status == 200, await put.text()
    results = []
    for amount in ("0.60", "0.40", "0.01", "5"):
        response = await client.post(
            "/api/v1/costs", json={"agent_id": "spender", "cost_type": "llm", "amount_usd": amount}, headers=SERVICE
        )
        results.append((await response.json())["budget_alert_queued"])
    assert results == [False, False, True, False], "1.00 is within budget; 1.01 crosses it; later ones are deduped"
    rows = await pool.fetch("SELECT kind, dedupe_key, payload FROM outbox")
    assert len(rows) == 1 and rows[0]["dedupe_key"].startswith("budget:spender:")
    assert rows[0]["payload"]["total_usd"] == "1.01" and rows[0]["payload"]["budget_usd"] == "1.00"
    async with fake_slack() as fake:
        ctx = outbox.Context(
            pool=pool,
            config=Config(slack_api_url=fake.url, slack_bot_token="xoxb-test", slack_incidents_channel="C-INC"),
            handlers=wire().outbox,
        )
        assert await outbox.deliver_due(ctx) == 1
        calls = fake.called("chat.postMessage")
    assert len(calls) == 1 and calls[0].args["channel"] == "C-INC" and "spender" in calls[0].args["text"]

    # The setting, when set, wins over SLACK_INCIDENTS_CHANNEL.
    await pool.execute(
        "UPDATE agent_swarm_config SET config_value = '\"C-COSTS\"' WHERE config_key = 'costs.alert_channel'"
    )
    await client.post(
        "/api/v1/costs", json={"agent_id": "other", "cost_type": "llm", "amount_usd": "101"}, headers=SERVICE
    )
    async with fake_slack() as fake:
        ctx = outbox.Context(
            pool=pool,
            config=Config(slack_api_url=fake.url, slack_bot_token="xoxb-test", slack_incidents_channel="C-INC"),
            handlers=wire().outbox,
        )
        assert await outbox.deliver_due(ctx) == 1
        assert [c.args["channel"] for c in fake.called("chat.postMessage")] == ["C-COSTS"]


async def test_config_is_validated_against_its_schema(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    listed = await (await client.get("/api/v1/config", headers=SERVICE)).json()
    keys = {s["config_key"] for s in listed["settings"]}
    assert {"costs.daily_budgets_usd", "costs.alert_channel", "analytics.ai_reviewers"} <= keys
    assert all(s["description"] and s["value_schema"] for s in listed["settings"] if s["config_key"] in keys)

    refused = await client.put("/api/v1/config/analytics.ai_reviewers", json={"value": "claude"}, headers=SERVICE)
    assert refused.status == 400 and "is not of type 'array'" in (await refused.json())["error"]
    bad_budget = await client.put(
        "/api/v1/config/costs.daily_budgets_usd", json={"value": {"a": "lots"}}, headers=SERVICE
    )
    assert bad_budget.status == 400 and "does not match" in (await bad_budget.json())["error"]

    before = await pool.fetchval(
        "SELECT updated_at FROM agent_swarm_config WHERE config_key = 'analytics.ai_reviewers'"
    )
    ok = await client.put("/api/v1/config/analytics.ai_reviewers", json={"value": ["bot[bot]"]}, headers=SERVICE)
    assert ok.status == 200
    row = await (await client.get("/api/v1/config/analytics.ai_reviewers", headers=SERVICE)).json()
    assert row["config_value"] == ["bot[bot]"] and row["updated_by"] == "ops-agent"
    after = await pool.fetchval("SELECT updated_at FROM agent_swarm_config WHERE config_key = 'analytics.ai_reviewers'")
    assert after > before

    assert (await client.get("/api/v1/config/analytics.ai_reviewers", headers=READER)).status == 404
    writer = await client.put("/api/v1/config/analytics.ai_reviewers", json={"value": []}, headers=READER)
    assert writer.status == 403
    assert (await client.get("/api/v1/config/no.such.key", headers=SERVICE)).status == 404

    created = await client.put(
        "/api/v1/config/test.new",
        json={"value": 3, "description": "d", "value_schema": {"type": "integer", "maximum": 5}},
        headers=SERVICE,
    )
    assert created.status == 201
    too_big = await client.put("/api/v1/config/test.new", json={"value": 6}, headers=SERVICE)
    assert too_big.status == 400 and "6 is greater than the maximum of 5" in (await too_big.json())["error"]


async def test_concurrent_costs_that_cross_the_budget_together_alert_once(pool: asyncpg.Pool) -> None:
    """Two costs of 0.6 against a budget of 1, in overlapping transactions: only together do they cross it.
    The second waits for the first's commit on the per-agent lock and sees 1.2; without the lock each sees
    only its own 0.6 and nobody alerts."""
    await pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'costs.daily_budgets_usd'", {"*": "1"}
    )
    first, second = await pool.acquire(), await pool.acquire()
    try:
        tx = first.transaction()
        await tx.start()
        _, first_alerted = await costs.record(first, "twins", "llm", Decimal("0.6"))

        async def second_cost() -> bool:
            async with second.transaction():
                return (await costs.record(second, "twins", "llm", Decimal("0.6")))[1]

        racing = asyncio.create_task(second_cost())
        async with asyncio.timeout(10):  # the second is done, or waiting on the first's lock
            while not racing.done() and not await pool.fetchval(WAITING_ON_AN_ADVISORY_LOCK):
                await asyncio.sleep(0.01)
        await tx.commit()
        second_alerted = await asyncio.wait_for(racing, 10)
    finally:
        await pool.release(first)
        await pool.release(second)
    assert (first_alerted, second_alerted) == (False, True)
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE dedupe_key LIKE 'budget:twins:%'") == 1


def test_the_action_schema_names_every_column_the_domain_writes() -> None:
    from domain.ledger import actions
    from handlers.api.actions import ACTION_IN

    assert set(ACTION_IN["properties"]) - {"created_at"} == set(actions.COLUMNS)


async def test_unstorable_json_and_unusable_schemas_are_refused(client: TestClient[Any, Any]) -> None:
    nan = await client.post(
        "/api/v1/events",
        data='{"source_agent_id": "a", "source_agent_type": "t", "event_type": "e", "payload": {"x": NaN}}',
        headers={**SERVICE, "Content-Type": "application/json"},
    )
    assert nan.status == 400 and "finite" in (await nan.json())["error"]
    nul = await client.post(
        "/api/v1/events",
        json={"source_agent_id": "a\x00", "source_agent_type": "t", "event_type": "e"},
        headers=SERVICE,
    )
    assert nul.status == 400
    bad_pattern = await client.put(
        "/api/v1/config/test.pattern",
        json={"value": "x", "value_schema": {"type": "string", "pattern": "(?<"}},
        headers=SERVICE,
    )
    assert bad_pattern.status == 400


async def test_two_concurrent_puts_of_one_new_key_create_it_once_and_never_answer_500(
    client: TestClient[Any, Any], pool: asyncpg.Pool
) -> None:
    for round_ in range(5):
        key = f"test.race{round_}"
        bodies = [{"value": n, "description": f"writer {n}", "value_schema": {"type": "integer"}} for n in (1, 2, 3)]
        answers = await asyncio.gather(*(client.put(f"/api/v1/config/{key}", json=b, headers=SERVICE) for b in bodies))
        assert sorted(a.status for a in answers) == [200, 200, 201], [await a.text() for a in answers]
        assert await pool.fetchval("SELECT count(*) FROM agent_swarm_config WHERE config_key = $1", key) == 1
