"""Poison deliveries (issue 10, defect 8): a signed body the service cannot store or read as it is.

- \\u0000 and lone surrogates (JSON allows them, PostgreSQL text and jsonb do not) are kept as visible
  escapes, so the delivery is ingested, and analytics still reads its period.
- A number that is no time (1e18 seconds) reads as an unknown time, not an OSError taken for the database
  being down (503), and it never stalls the retry job.
- A failure retrying cannot cure (a value PostgreSQL refuses, a body that does not parse) goes straight to
  'dead': listed by `deliveries`, never retried by the job, replayable by hand.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import asyncpg
import pytest

from app import wire
from domain.metrics import analytics
from handlers import commands
from jobs import inbox, inbox_worker, scheduler
from tests.conftest import make_config, rows_read
from tests.integration.webhooks.conftest import World, fixture_bytes
from tests.integration.webhooks.conftest import world as world
from tests.integration.webhooks.conftest import world_factory as world_factory

RETRY_JOB = inbox.retry_job(wire().router)
CRASHED = """
INSERT INTO webhook_deliveries (source, delivery_id, event_type, action, body, received_at)
VALUES ($1, $2, $3, $4, $5, now() - make_interval(mins => $6))
RETURNING id
"""
REFUSE = """
CREATE OR REPLACE FUNCTION test_refuse_value() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'value out of range for this column' USING ERRCODE = 'numeric_value_out_of_range'; END $$;
CREATE TRIGGER test_refuse_value BEFORE INSERT ON infrastructure_incidents
    FOR EACH ROW EXECUTE FUNCTION test_refuse_value();
"""
REPAIR = "DROP TRIGGER IF EXISTS test_refuse_value ON infrastructure_incidents"


def with_nul(name: str) -> bytes:
    """A recorded GitHub workflow run whose workflow name and commit message hold \\u0000 and a lone surrogate."""
    doc = json.loads(fixture_bytes("github", name))
    doc["workflow"]["name"] = doc["workflow_run"]["name"] = "CI\u0000build"
    doc["workflow_run"]["head_commit"]["message"] = "fix \ud800 parser\u0000"
    return json.dumps(doc).encode()  # ensure_ascii: the escapes travel as \u0000 and \ud800


def error_at(seconds: float) -> bytes:
    doc = json.loads(fixture_bytes("sentry", "error.created"))
    doc["data"]["error"].pop("datetime")
    doc["data"]["error"]["timestamp"] = seconds
    return json.dumps(doc).encode()


async def test_a_signed_github_delivery_holding_nul_is_ingested_and_analytics_reads_its_period(world: World) -> None:
    response = await world.send.github(with_nul("workflow_run.failure"), "workflow_run")
    assert response.status == 200, await response.text()
    assert await world.pool.fetchval("SELECT status FROM webhook_deliveries") == "processed"
    incident = await world.pool.fetchrow("SELECT * FROM infrastructure_incidents")
    assert incident is not None and "\\u0000" in json.dumps(incident["error_details"])

    period = analytics.period_start(datetime.now(UTC), 7)
    row = await analytics.compute(world.pool, period, 7)
    assert row["ci_runs"] == 1 and row["ci_failures"] == 1
    run = await world.pool.fetchrow("SELECT workflow, conclusion FROM github_workflow_runs")
    assert run["workflow"] == "CI\\u0000build" and run["conclusion"] == "failure"


async def test_a_lone_surrogate_in_a_sentry_title_is_ingested(world: World) -> None:
    doc = json.loads(fixture_bytes("sentry", "issue.created"))
    doc["data"]["issue"]["title"] = "KeyError \ud83d in handler"
    response = await world.send.sentry(json.dumps(doc).encode(), "issue")
    assert response.status == 200
    assert await world.pool.fetchval("SELECT title FROM infrastructure_incidents") == "KeyError \\ud83d in handler"


@pytest.mark.parametrize("seconds", [1e18, -1e18])
async def test_an_event_timestamp_of_1e18_is_an_unknown_time_not_a_503(world: World, seconds: float) -> None:
    assert (await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")).status == 200
    await world.drain()  # the Linear issue, and so the mapping
    response = await world.send.sentry(error_at(seconds), "error")
    assert response.status == 200 and "duplicate" not in await response.json()
    assert await world.pool.fetchval("SELECT event_count FROM sentry_error_mappings") == 2


async def test_a_poison_row_left_by_a_crash_does_not_stall_the_rows_behind_it(world: World) -> None:
    poison = await world.pool.fetchval(CRASHED, "sentry", "poison", "error", "created", error_at(1e18), 10)
    unreadable = await world.pool.fetchval(CRASHED, "sentry", "unreadable", "issue", "created", b"{not json", 9)
    good = await world.pool.fetchval(
        CRASHED, "sentry", "good", "issue", "created", fixture_bytes("sentry", "issue.created"), 8
    )
    assert await world.send.drain() == 3  # the inbox workers take rows a crash left received
    states = dict(await world.pool.fetch("SELECT id, status FROM webhook_deliveries"))
    assert states == {poison: "processed", unreadable: "dead", good: "processed"}
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 1


async def test_a_value_postgresql_refuses_is_dead_at_once_listed_and_replayable(
    world: World, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await world.pool.execute(REFUSE)
    try:
        response = await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue", request_id="e" * 32)
        assert response.status == 200 and (await response.json())["queued"] is True  # then processed
        row = await world.pool.fetchrow("SELECT * FROM webhook_deliveries")
        assert row["status"] == "dead" and row["attempts"] == 1 and row["next_attempt_at"] is None
        assert "NumericValueOutOfRangeError" in row["last_error"]

        await world.pool.execute("UPDATE webhook_deliveries SET received_at = now() - interval '1 hour'")
        assert await scheduler.tick(world.pool, RETRY_JOB)
        assert await world.pool.fetchval("SELECT attempts FROM webhook_deliveries") == 1  # never retried blindly

        config = make_config(database_url)
        assert await commands.deliveries(config, argparse.Namespace(), wire()) == 0
        out = capsys.readouterr().out
        assert f"{row['id']}\tdead\tsentry\tissue/created\t{'e' * 32}" in out and "(1 dead" in out
    finally:
        await world.pool.execute(REPAIR)
    assert await commands.replay(config, argparse.Namespace(id=row["id"], failed=False), wire()) == 0
    assert f"{row['id']}\tprocessed" in capsys.readouterr().out
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 1


async def test_the_retry_query_is_served_by_index(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "INSERT INTO webhook_deliveries (source, delivery_id, event_type, body, status, received_at)"
        " SELECT 'github', 'd' || g, 'ping', '{}'::bytea, 'processed', now() - g * interval '1 second'"
        " FROM generate_series(1, 20000) g"
    )
    await pool.execute("ANALYZE webhook_deliveries")
    plan = "\n".join(r[0] for r in await pool.fetch("EXPLAIN " + inbox.DUE.replace("$1", "50")))
    assert "webhook_deliveries_retry_idx" in plan and "Seq Scan" not in plan, plan


async def test_a_claim_reads_the_queue_head_only_when_a_burst_has_made_the_statistics_stale(
    pool: asyncpg.Pool,
) -> None:
    """Statistics taken with an empty inbox, then a backlog of 5,000: a claim of 32 reads the oldest
    candidates and its keys' rows, never the whole backlog (which it read twice: ~10,000 rows)."""
    await pool.execute("ANALYZE webhook_deliveries")
    await pool.execute(
        "INSERT INTO webhook_deliveries (source, delivery_id, event_type, body, status, order_key)"
        " SELECT 'github', 'b' || g, 'workflow_run', '{}'::bytea, 'received', 'ci:' || (g % 1000)"
        " FROM generate_series(1, 5000) g"
    )
    async with pool.acquire() as conn, conn.transaction():
        before = await rows_read(conn, "webhook_deliveries")
        rows = await conn.fetch(inbox_worker.CLAIM, 32, inbox_worker.CANDIDATES, "k:", 32)
        read = await rows_read(conn, "webhook_deliveries") - before
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows) and len(rows) == 32
    assert read < 2 * inbox_worker.CANDIDATES, f"one claim read {read} rows of a backlog of 5,000"
