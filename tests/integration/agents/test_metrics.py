"""Hourly agent_metrics against hand-computed expectations on generated data."""

from __future__ import annotations

import asyncio
import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

import app as app_module
from db import locks
from domain.metrics import rollup
from domain.metrics import rollup as metrics
from jobs import scheduler
from tests.conftest import bearer

H0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
H1 = H0 + timedelta(hours=1)
ADVISORY_WAITERS = """
SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (
    SELECT oid FROM pg_database WHERE datname = current_database())
"""
INSERT_ACTION = """
INSERT INTO agent_actions (id, agent_name, action_type, success, execution_time_ms, incident_id, requires_approval,
                           created_at)
VALUES ($1, $2, 'x', $3, $4, $5, $6, $7)
"""
INSERT_INCIDENT = """
INSERT INTO infrastructure_incidents (id, severity, incident_type, source, title, created_at, resolved_at, resolved_by,
                                      time_to_resolve_ms, status)
VALUES ($1, 'high', 'outage', 'test', 't', $2, $3, $4, $5, CASE WHEN $3::timestamptz IS NULL THEN 'detected'
        ELSE 'resolved' END)
"""


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percentile_cont(values: list[int], p: float) -> int:
    """PostgreSQL's percentile_cont in double precision, then ::numeric (15 digits) and round()."""
    v = sorted(values)
    pos = p * (len(v) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    x = float(v[lo]) + (pos - lo) * (float(v[hi]) - float(v[lo]))
    return half_up(Decimal(f"{x:.15g}"))


class World:
    def __init__(self) -> None:
        self.actions: list[dict[str, Any]] = []
        self.incidents: list[tuple[Any, ...]] = []

    def action(self, agent: str, at: datetime, **kw: Any) -> dict[str, Any]:
        row = {"id": uuid.uuid4(), "agent": agent, "success": True, "ms": 100, "incident": None, "approval": False}
        row.update(kw, at=at)
        self.actions.append(row)
        return row

    async def load(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            await conn.executemany(INSERT_INCIDENT, self.incidents)
            await conn.executemany(
                INSERT_ACTION,
                [
                    (a["id"], a["agent"], a["success"], a["ms"], a["incident"], a["approval"], a["at"])
                    for a in self.actions
                ],
            )

    def expected(self, agent: str, hour: datetime) -> dict[str, Any]:
        mine = [a for a in self.actions if a["agent"] == agent and hour <= a["at"] < hour + timedelta(hours=1)]
        times = [a["ms"] for a in mine if a["ms"] is not None]
        return {
            "actions_total": len(mine),
            "actions_successful": sum(a["success"] for a in mine),
            "actions_failed": sum(not a["success"] for a in mine),
            "avg_execution_time_ms": half_up(Decimal(sum(times)) / len(times)),
            "p50_execution_time_ms": percentile_cont(times, 0.5),
            "p95_execution_time_ms": percentile_cont(times, 0.95),
            "p99_execution_time_ms": percentile_cont(times, 0.99),
        }


def generate(seed: int = 7) -> World:
    rng = random.Random(seed)
    world = World()
    for hour in (H0, H1):
        for agent in ("alpha", "beta"):
            for _ in range(rng.randint(20, 60)):
                world.action(
                    agent,
                    hour + timedelta(seconds=rng.randint(0, 3599)),
                    success=rng.random() < 0.8,
                    ms=None if rng.random() < 0.1 else rng.randint(1, 5000),
                )
    i1, i2, i3, i4 = (uuid.uuid4() for _ in range(4))
    created = H0 - timedelta(minutes=1)
    world.incidents = [
        (i1, created, created + timedelta(minutes=10), "alpha", None),  # auto-resolved by alpha: 600000 ms
        (i2, created, created + timedelta(minutes=30), "beta", 90000),  # needed an approval: escalated
        (i3, created, created + timedelta(hours=2), "U-human", 1000),  # resolved by a human: escalated
        (i4, created, None, None, None),  # still open
    ]
    world.action("alpha", H0 + timedelta(minutes=5), incident=i1, ms=10)
    world.action("beta", H0 + timedelta(minutes=6), ms=20)
    world.action("alpha", H0 + timedelta(minutes=20), incident=i2, ms=30)
    world.action("beta", H0 + timedelta(minutes=30), incident=i2, approval=True, ms=40)
    world.action("beta", H1 + timedelta(minutes=1), incident=i3, ms=50)
    world.action("beta", H1 + timedelta(minutes=2), incident=i4, ms=60, success=False)
    world.action("alpha", H1 + timedelta(minutes=3), incident=i4, ms=70)
    return world


INCIDENTS = {
    ("alpha", H0): {"incidents_detected": 2, "incidents_auto_resolved": 1, "incidents_escalated": 1, "mttr_ms": 345000},
    ("beta", H0): {"incidents_detected": 0, "incidents_auto_resolved": 0, "incidents_escalated": 0, "mttr_ms": None},
    ("alpha", H1): {"incidents_detected": 0, "incidents_auto_resolved": 0, "incidents_escalated": 0, "mttr_ms": None},
    ("beta", H1): {"incidents_detected": 2, "incidents_auto_resolved": 0, "incidents_escalated": 1, "mttr_ms": 1000},
}


async def rows(pool: asyncpg.Pool) -> dict[tuple[str, datetime], dict[str, Any]]:
    found = await pool.fetch("SELECT * FROM agent_metrics ORDER BY bucket_start, agent_name")
    return {
        (r["agent_name"], r["bucket_start"]): {k: v for k, v in r.items() if k not in ("id", "created_at")}
        for r in found
    }


def check(world: World, got: dict[tuple[str, datetime], dict[str, Any]]) -> None:
    assert set(got) == set(INCIDENTS)
    for (agent, hour), incidents in INCIDENTS.items():
        row = got[(agent, hour)]
        assert row["bucket_end"] == hour + timedelta(hours=1)
        assert {k: row[k] for k in world.expected(agent, hour)} == world.expected(agent, hour), (agent, hour)
        assert {k: row[k] for k in incidents} == incidents, (agent, hour)


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    generated = generate()
    await generated.load(pool)
    return generated


async def test_rollup_matches_hand_computed_values_and_reruns_identically(pool: asyncpg.Pool, world: World) -> None:
    async with pool.acquire() as conn:
        rolled = await metrics.rollup(conn, H0, H1 + timedelta(hours=1))
    assert rolled == metrics.Rolled(upserted=4, removed=0)
    first = await rows(pool)
    check(world, first)
    ids = await pool.fetch("SELECT id FROM agent_metrics ORDER BY id")
    async with pool.acquire() as conn:
        await metrics.rollup(conn, H0, H1 + timedelta(hours=1))
    assert await rows(pool) == first
    assert await pool.fetch("SELECT id FROM agent_metrics ORDER BY id") == ids, "updated in place"


async def test_the_job_rolls_dirty_hours_and_a_late_action_re_rolls_its_hour(pool: asyncpg.Pool, world: World) -> None:
    assert await scheduler.tick(pool, rollup.JOB)
    check(world, await rows(pool))
    assert await pool.fetchval("SELECT count(*) FROM agent_metrics_dirty") == 0
    assert await metrics.roll_dirty(pool) == 0, "nothing left to roll"

    late = world.action("alpha", H0 + timedelta(minutes=59), ms=4999, success=False)
    await pool.execute(INSERT_ACTION, late["id"], "alpha", False, 4999, None, False, late["at"])
    assert await metrics.roll_dirty(pool) == 1
    check(world, await rows(pool))

    await pool.execute("DELETE FROM agent_actions WHERE agent_name = 'beta' AND created_at >= $1", H1)
    assert await metrics.roll_dirty(pool) == 1
    assert ("beta", H1) not in await rows(pool), "an hour without actions loses its row"


async def test_resolving_an_incident_re_rolls_the_hour_it_belongs_to(pool: asyncpg.Pool, world: World) -> None:
    await metrics.roll_dirty(pool)
    open_incident = world.incidents[3][0]
    await pool.execute(
        "UPDATE infrastructure_incidents SET status = 'resolved', resolved_at = created_at + interval '3 s',"
        " resolved_by = 'beta' WHERE id = $1",
        open_incident,
    )
    assert await metrics.roll_dirty(pool) == 1
    row = (await rows(pool))[("beta", H1)]
    assert row["incidents_auto_resolved"] == 1 and row["mttr_ms"] == (1000 + 3000) // 2


async def test_two_concurrent_runners_give_one_result(pool: asyncpg.Pool, world: World) -> None:
    async def run() -> None:
        async with pool.acquire() as conn:
            await metrics.rollup(conn, H0, H1 + timedelta(hours=1))

    await asyncio.gather(run(), run(), metrics.roll_dirty(pool), metrics.roll_dirty(pool))
    check(world, await rows(pool))
    ran = await asyncio.gather(*(scheduler.tick(pool, rollup.JOB) for _ in range(3)))
    assert any(ran)
    check(world, await rows(pool))


async def test_a_rollup_waits_for_the_roller_before_it(pool: asyncpg.Pool, world: World) -> None:
    """Rollers are serialised: a roller whose statement started before a late action committed must never
    commit after one that saw it (an older snapshot would overwrite a newer hour). The lock is what
    orders them; this holds it as another roller would and checks that both rollup paths wait for it."""
    async with pool.acquire() as holder, holder.transaction():
        await locks.xact_lock(holder, locks.METRICS_ROLLUP)

        async def range_rollup() -> None:
            async with pool.acquire() as conn:
                await metrics.rollup(conn, H0, H1 + timedelta(hours=1))

        waiting = [asyncio.create_task(range_rollup()), asyncio.create_task(metrics.roll_dirty(pool))]
        async with asyncio.timeout(10):
            while await pool.fetchval(ADVISORY_WAITERS) < 2:
                await asyncio.sleep(0.02)
        assert not any(task.done() for task in waiting), "a rollup ran while another roller held the lock"
    async with asyncio.timeout(10):
        await asyncio.gather(*waiting)
    check(world, await rows(pool))


async def test_metrics_api_is_for_the_service_role(
    client: TestClient[Any, Any], pool: asyncpg.Pool, world: World
) -> None:
    await metrics.roll_dirty(pool)
    response = await client.get(
        "/api/v1/metrics/agents",
        params={"from": H1.isoformat(), "to": (H1 + timedelta(hours=1)).isoformat(), "agent": "beta"},
        headers=bearer("service_role"),
    )
    body = await response.json()
    assert response.status == 200 and [m["agent_name"] for m in body["metrics"]] == ["beta"]
    assert body["metrics"][0]["actions_total"] == world.expected("beta", H1)["actions_total"]
    hidden = await client.get("/api/v1/metrics/agents", headers=bearer("authenticated"))
    assert hidden.status == 200 and (await hidden.json())["metrics"] == []


def test_the_rollup_command_backfills_with_a_progress_bar(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def prepare() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("TRUNCATE agent_actions, agent_metrics, agent_metrics_dirty, infrastructure_incidents")
            await conn.execute(INSERT_ACTION, uuid.uuid4(), "gamma", True, 5, None, False, H0 + timedelta(minutes=1))
        finally:
            await conn.close()

    asyncio.run(prepare())
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert app_module.main(["rollup", "--from", "2026-11-20T09:00:00", "--to", "2026-11-20T12:00:00Z"]) == 0
    err = capsys.readouterr().err
    assert "3/3" in err and "rolled 3 hour(s)" in err

    async def fetch() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetch("SELECT agent_name, actions_total FROM agent_metrics")
        finally:
            await conn.execute("TRUNCATE agent_actions, agent_metrics, agent_metrics_dirty")
            await conn.close()

    assert [tuple(r) for r in asyncio.run(fetch())] == [("gamma", 1)]


REFUSE_HOUR = """
CREATE OR REPLACE FUNCTION test_refuse_hour() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.bucket_start = '2026-11-20T10:00:00Z' THEN RAISE EXCEPTION 'disk full for this hour'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_refuse_hour BEFORE INSERT OR UPDATE ON agent_metrics
    FOR EACH ROW EXECUTE FUNCTION test_refuse_hour();
"""


async def test_an_incident_resolved_after_months_caps_mttr_and_the_queue_moves_on(pool: asyncpg.Pool) -> None:
    incident = uuid.uuid4()
    await pool.execute(INSERT_INCIDENT, incident, H0, H0 + timedelta(days=90), "alpha", None)
    await pool.execute(INSERT_ACTION, uuid.uuid4(), "alpha", True, 10, incident, False, H0 + timedelta(minutes=1))
    await pool.execute(INSERT_ACTION, uuid.uuid4(), "beta", True, 20, None, False, H1 + timedelta(minutes=1))
    assert await metrics.roll_dirty(pool) == 2
    got = await rows(pool)
    assert got[("alpha", H0)]["mttr_ms"] == 2**31 - 1 and got[("beta", H1)]["actions_total"] == 1
    assert await pool.fetchval("SELECT count(*) FROM agent_metrics_dirty") == 0


async def test_one_failing_hour_is_left_dirty_and_the_others_roll(pool: asyncpg.Pool) -> None:
    await pool.execute(REFUSE_HOUR)
    try:
        for at, agent in ((H0, "alpha"), (H1, "beta"), (H1 + timedelta(hours=1), "gamma")):
            await pool.execute(INSERT_ACTION, uuid.uuid4(), agent, True, 10, None, False, at)
        assert await metrics.roll_dirty(pool) == 2
        assert set(await rows(pool)) == {("beta", H1), ("gamma", H1 + timedelta(hours=1))}
        left = await pool.fetchrow("SELECT * FROM agent_metrics_dirty")
        assert left["bucket_start"] == H0 and "disk full" in left["last_error"] and left["failed_at"] is not None
        # A new hour marked later rolls before the one that keeps failing.
        await pool.execute(INSERT_ACTION, uuid.uuid4(), "delta", True, 10, None, False, H0 - timedelta(hours=5))
        assert await metrics.roll_dirty(pool, limit=1) == 1
        assert ("delta", H0 - timedelta(hours=5)) in await rows(pool)
    finally:
        await pool.execute("DROP TRIGGER test_refuse_hour ON agent_metrics")
    assert await metrics.roll_dirty(pool) == 1 and ("alpha", H0) in await rows(pool)
