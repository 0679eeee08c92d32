"""A pass handles its new incidents as one batch: each is matched by its own text, a regression's gating
reaches the incidents after it, and an incident another transaction holds waits for the next pass."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg

from tests.integration.runbooks.helpers import RESTART, T0, open_incident, resolve, tick


async def test_each_incident_of_one_pass_is_matched_by_its_own_text(pool: asyncpg.Pool) -> None:
    first = await open_incident(pool, "db-primary-3")
    await resolve(pool, first["id"], RESTART, T0)
    await tick(pool)
    pattern_id = await pool.fetchval("SELECT id FROM runbook_patterns")
    opened = []
    for k in range(6):
        if k % 2:
            opened.append(await open_incident(pool, f"db-replica-{k}", at=T0 + timedelta(seconds=k)))
        else:
            opened.append(
                await open_incident(
                    pool,
                    title=f"OOMKilled: worker-{k} exceeded memory limit",
                    message="exit 137",
                    services=("worker",),
                    details={"error_type": "OOMKilled"},
                    at=T0 + timedelta(seconds=k),
                )
            )
    assert (await tick(pool))["embedded"] == 6
    matched = await pool.fetch("SELECT incident_id, pattern_id FROM runbook_matches")
    assert {r["incident_id"] for r in matched} == {i["id"] for i in opened[1::2]}
    assert {r["pattern_id"] for r in matched} == {pattern_id}


async def test_a_regression_gates_its_pattern_for_the_incidents_after_it_in_the_same_pass(pool: asyncpg.Pool) -> None:
    taught = await open_incident(pool, "db-primary-3")
    await resolve(pool, taught["id"], RESTART, T0)
    await tick(pool)
    await pool.execute("UPDATE runbook_patterns SET requires_approval = false, success_count = 25, usage_count = 25")
    before = await open_incident(pool, "db-replica-1", at=T0 + timedelta(seconds=1))
    await open_incident(
        pool,
        incident_type="regression",
        details={"regression_of": str(taught["id"])},
        at=T0 + timedelta(seconds=2),
    )
    after = await open_incident(pool, "db-replica-2", at=T0 + timedelta(seconds=3))
    assert (await tick(pool))["embedded"] == 3
    mode = "SELECT mode FROM runbook_matches WHERE incident_id = $1"
    assert await pool.fetchval(mode, before["id"]) == "auto"
    assert await pool.fetchval(mode, after["id"]) == "approval"  # gated, 25 of 26 still earned


async def test_an_incident_another_transaction_holds_is_left_for_the_next_pass(
    pool: asyncpg.Pool, database_url: str
) -> None:
    held = await open_incident(pool, "db-replica-1")
    await open_incident(pool, "db-replica-2")
    other = await asyncpg.connect(database_url)
    try:
        lock = other.transaction()
        await lock.start()
        await other.execute("SELECT 1 FROM infrastructure_incidents WHERE id = $1 FOR UPDATE", held["id"])
        async with asyncio.timeout(20):
            assert (await tick(pool))["embedded"] == 1
        assert await pool.fetchval("SELECT embedding IS NULL FROM infrastructure_incidents WHERE id = $1", held["id"])
        await lock.rollback()
    finally:
        await other.close()
    assert (await tick(pool))["embedded"] == 1
    assert await pool.fetchval("SELECT count(*) FROM infrastructure_incidents WHERE embedding IS NULL") == 0
