"""Learning: a resolution makes a pattern, counts towards it, or makes its next version; a fix counts only
once it held for runbooks.learn_after; a regression counts as a failure and gates the pattern again."""

from __future__ import annotations

import asyncpg

from tests.integration.runbooks.helpers import (
    DAY,
    FAILOVER,
    RESTART,
    T0,
    actions,
    open_incident,
    pattern_rows,
    resolve,
    tick,
)


async def test_every_incident_is_embedded_and_a_changed_title_is_embedded_again(pool: asyncpg.Pool) -> None:
    incident = await open_incident(pool)
    assert incident["embedding"] is None
    assert (await tick(pool))["embedded"] == 1
    assert await pool.fetchval(
        "SELECT embedding IS NOT NULL FROM infrastructure_incidents WHERE id = $1", incident["id"]
    )
    await pool.execute("UPDATE infrastructure_incidents SET title = 'Something else' WHERE id = $1", incident["id"])
    assert await pool.fetchval("SELECT embedding IS NULL FROM infrastructure_incidents WHERE id = $1", incident["id"])
    assert (await tick(pool))["embedded"] == 1


async def test_a_resolution_creates_a_pattern_counts_towards_it_and_versions_it(pool: asyncpg.Pool) -> None:
    first = await open_incident(pool, "db-primary-3")
    await resolve(pool, first["id"], RESTART, T0)
    await tick(pool)
    [pattern] = await pattern_rows(pool)
    assert pattern["pattern_name"] == "payments: operationalerror connection connectionrefusederror failed port server"
    assert pattern["pattern_type"] == "application_error" and pattern["version"] == 1
    assert pattern["automated_steps"] == RESTART and pattern["requires_approval"]
    assert pattern["trigger_conditions"]["services"] == ["payments"]
    assert pattern["embedding"] is not None
    # SQL can test the conditions against an incident's facts
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM runbook_patterns WHERE trigger_conditions @> $1",
            {"error_type": "OperationalError", "services": ["payments"]},
        )
        == 1
    )

    # the same error on another host, fixed the same way: counts towards it (no new pattern)
    second = await open_incident(pool, "db-replica-7", 5433)
    await resolve(pool, second["id"], RESTART, T0)
    assert (await tick(pool))["learned"] == {"counted": 1}
    assert len(await pattern_rows(pool)) == 1

    # fixed another way: the next version, the earlier row preserved under a version name
    third = await open_incident(pool, "db-primary-9")
    await resolve(pool, third["id"], FAILOVER, T0)
    assert (await tick(pool))["learned"] == {"new_version": 1}
    v1, v2 = await pattern_rows(pool)
    assert (v1["version"], v2["version"]) == (1, 2)
    assert v2["previous_version_id"] == v1["id"]
    assert v2["pattern_name"] == pattern["pattern_name"] and v1["pattern_name"] == pattern["pattern_name"] + " (v1)"
    assert v2["automated_steps"] == FAILOVER and v2["usage_count"] == 0

    # a different error makes a pattern of its own
    other = await open_incident(
        pool, title="KeyError: 'customer_id'", message="in charge handler", details={"error_type": "KeyError"}
    )
    await resolve(pool, other["id"], [{"action": "deploy", "target": "payments"}], T0)
    assert (await tick(pool))["learned"] == {"created": 1}
    assert len(await pattern_rows(pool)) == 3
    assert await actions(pool, "runbook.learned") == [
        "runbook.learned.created",
        "runbook.learned.counted",
        "runbook.learned.new_version",
        "runbook.learned.created",
    ]


async def test_agent_actions_become_the_steps_when_a_resolution_names_none(pool: asyncpg.Pool) -> None:
    incident = await open_incident(pool)
    for n, (action, target, ok) in enumerate(
        [("restart", "payments-db-pool", True), ("scale_up", "payments", False), ("verify", "payments", True)]
    ):
        await pool.execute(
            "INSERT INTO agent_actions (agent_name, action_type, incident_id, input_context, success, created_at)"
            " VALUES ('sre-agent', $1, $2, $3, $4, $5)",
            action,
            incident["id"],
            {"target": target},
            ok,
            T0 + n * DAY / 1000,
        )
    await resolve(pool, incident["id"], None, T0)
    await tick(pool)
    [pattern] = await pattern_rows(pool)
    assert pattern["automated_steps"] == RESTART


async def test_invalid_steps_are_not_learned(pool: asyncpg.Pool) -> None:
    incident = await open_incident(pool)
    await resolve(pool, incident["id"], [{"no_action": True}], T0)
    assert (await tick(pool))["learned"] == {"no_steps": 1}
    assert await pattern_rows(pool) == []


async def test_a_fix_counts_only_after_it_held_for_learn_after(pool: asyncpg.Pool) -> None:
    incident = await open_incident(pool)
    await resolve(pool, incident["id"], RESTART, T0)
    await tick(pool, T0)
    assert (await tick(pool, T0 + DAY / 2))["held"] == 0
    [pattern] = await pattern_rows(pool)
    assert pattern["success_count"] == 0
    assert (await tick(pool, T0 + DAY))["held"] == 1
    [pattern] = await pattern_rows(pool)
    assert (pattern["usage_count"], pattern["success_count"], pattern["failure_count"]) == (1, 1, 0)
    assert (await tick(pool, T0 + 2 * DAY))["held"] == 0  # once


async def test_a_regression_before_learn_after_counts_as_a_failure_and_demotes(pool: asyncpg.Pool) -> None:
    incident = await open_incident(pool)
    await resolve(pool, incident["id"], RESTART, T0)
    await tick(pool, T0)
    await pool.execute("UPDATE runbook_patterns SET requires_approval = false")
    await open_incident(
        pool, incident_type="regression", details={"regression_of": str(incident["id"]), "cause": "new event"}
    )
    await tick(pool, T0 + DAY / 4)
    [pattern] = await pattern_rows(pool)
    assert (pattern["usage_count"], pattern["success_count"], pattern["failure_count"]) == (1, 0, 1)
    assert pattern["requires_approval"]
    assert (await tick(pool, T0 + 2 * DAY))["held"] == 0  # already counted, as a failure
    demoted = await pool.fetch("SELECT payload FROM agent_events WHERE event_type = 'runbook.demoted'")
    assert [d["payload"]["runbook_id"] for d in demoted] == [str(pattern["id"])]
    assert "runbook.demoted" in await actions(pool)
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE kind = 'runbooks.thread'"
            " AND payload->>'text' LIKE '%needs approval again%'"
        )
        == 1
    )
