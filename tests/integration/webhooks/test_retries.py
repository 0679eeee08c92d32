"""A stored delivery is never lost: failed processing stays 'failed' with its error and is retried by the
job with backoff, or replayed by the CLI; outbound work survives Linear being down or rate limited and
Slack answering 429."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app import wire
from config import Config
from handlers import commands
from jobs import inbox, scheduler
from tests.conftest import make_config
from tests.integration.webhooks.conftest import World, fixture_bytes, sentry_variant

RETRY_JOB = inbox.retry_job(wire().router)

BREAK = """
CREATE OR REPLACE FUNCTION test_refuse_incidents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'incidents table is read-only for maintenance'; END $$;
CREATE TRIGGER test_refuse_incidents BEFORE INSERT ON infrastructure_incidents
    FOR EACH ROW EXECUTE FUNCTION test_refuse_incidents();
"""
ROOT = Path(__file__).resolve().parents[3]
REPAIR = "DROP TRIGGER IF EXISTS test_refuse_incidents ON infrastructure_incidents"


@pytest.fixture
async def broken(pool: asyncpg.Pool) -> AsyncIterator[None]:
    """The database refuses incident inserts until the test repairs it (a real failure, not a mock)."""
    await pool.execute(BREAK)
    try:
        yield
    finally:
        await pool.execute(REPAIR)


async def test_failed_processing_is_kept_and_retried_by_the_job(world: World, broken: None) -> None:
    response = await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue", request_id="f" * 32)
    assert response.status == 200 and (await response.json())["queued"] is True  # stored; processing follows
    row = await world.pool.fetchrow("SELECT * FROM webhook_deliveries")
    assert row["status"] == "failed" and "read-only for maintenance" in row["last_error"]
    assert row["attempts"] == 1 and row["next_attempt_at"] is not None
    assert await world.pool.fetchval("SELECT count(*) FROM outbox") == 0  # rolled back with the callbacks

    # Not due yet: the job leaves it alone.
    assert await scheduler.tick(world.pool, RETRY_JOB)
    assert await world.pool.fetchval("SELECT attempts FROM webhook_deliveries") == 1

    # Due, still broken: a second attempt, the delay doubles.
    await world.pool.execute("UPDATE webhook_deliveries SET next_attempt_at = now()")
    await scheduler.tick(world.pool, RETRY_JOB)
    row = await world.pool.fetchrow("SELECT *, next_attempt_at - now() AS wait FROM webhook_deliveries")
    assert row["status"] == "failed" and row["attempts"] == 2 and row["wait"].total_seconds() > 45

    await world.pool.execute(REPAIR)
    await world.pool.execute("UPDATE webhook_deliveries SET next_attempt_at = now()")
    await scheduler.tick(world.pool, RETRY_JOB)
    row = await world.pool.fetchrow("SELECT * FROM webhook_deliveries")
    assert row["status"] == "processed" and row["last_error"] is None and row["attempts"] == 3
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 1
    # The redelivery of the same id is still a duplicate.
    again = await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue", request_id="f" * 32)
    assert (await again.json())["duplicate"] is True


async def test_a_delivery_left_received_by_a_crash_is_picked_up_by_the_workers(world: World) -> None:
    body = fixture_bytes("sentry", "issue.created")
    await world.pool.execute(
        "INSERT INTO webhook_deliveries (source, delivery_id, event_type, action, body, received_at)"
        " VALUES ('sentry', 'crashed', 'issue', 'created', $1, now() - interval '5 minutes')",
        body,
    )
    await scheduler.tick(world.pool, RETRY_JOB)  # the retry job is for failed rows only
    assert await world.pool.fetchval("SELECT status FROM webhook_deliveries") == "received"
    assert await world.send.drain() == 1
    assert await world.pool.fetchval("SELECT status FROM webhook_deliveries") == "processed"
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 1


async def test_deliveries_and_replay_commands(
    world: World, broken: None, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue", request_id="c" * 32)
    await world.send.github(fixture_bytes("github", "ping"), "ping", delivery="ping-ok")
    config: Config = make_config(database_url)

    assert await commands.deliveries(config, argparse.Namespace(), wire()) == 0
    out = capsys.readouterr().out
    assert "c" * 32 in out and "issue/created" in out and "read-only" in out and "1 failed delivery" in out
    assert "ping-ok" not in out
    row_id = await world.pool.fetchval("SELECT id FROM webhook_deliveries WHERE status = 'failed'")

    assert await commands.replay(config, argparse.Namespace(id=row_id, failed=False), wire()) == 1  # still broken
    assert f"{row_id}\tfailed" in capsys.readouterr().out
    await world.pool.execute(REPAIR)
    assert await commands.replay(config, argparse.Namespace(id=None, failed=True), wire()) == 0
    assert f"{row_id}\tprocessed" in capsys.readouterr().out
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 1
    await commands.deliveries(config, argparse.Namespace(), wire())
    assert "0 failed deliveries" in capsys.readouterr().out


async def test_linear_down_then_back_the_mapping_appears_after_the_retry(world: World) -> None:
    world.linear.down = True
    await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")
    await world.drain()
    job = await world.pool.fetchrow("SELECT * FROM outbox WHERE kind = 'linear.create_issue'")
    assert job["status"] == "pending" and job["attempts"] == 1 and "503" in job["last_error"]
    assert await world.pool.fetchval("SELECT count(*) FROM sentry_error_mappings") == 0
    # The incident was announced anyway: Slack does not wait for Linear.
    assert len(world.slack.called("chat.postMessage")) == 1

    # An event of the issue while Linear is down is counted on the incident meanwhile.
    assert (await world.send.sentry(fixture_bytes("sentry", "error.created"), "error")).status == 200

    world.linear.down = False
    await world.make_due()
    await world.drain()
    mapping = await world.pool.fetchrow("SELECT * FROM sentry_error_mappings")
    assert mapping["linear_issue_id"] == "ENG-1" and mapping["event_count"] == 2
    assert await world.pool.fetchval("SELECT linear_issue_id FROM infrastructure_incidents") == "ENG-1"
    assert await world.pool.fetchval("SELECT status FROM outbox WHERE kind = 'linear.create_issue'") == "done"
    assert len(world.linear.called("issueCreate")) == 1


async def test_linear_answer_lost_after_creating_makes_no_duplicate(world: World) -> None:
    world.linear.lose_answers("issueCreate")
    await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")
    await world.drain()
    # The issue exists in Linear (created with the service's own id); the mapping follows from the lookup.
    assert len(world.linear.issues) == 1
    assert await world.pool.fetchval("SELECT linear_issue_id FROM sentry_error_mappings") == "ENG-1"
    await world.pool.execute("UPDATE outbox SET status = 'pending', next_attempt_at = now() WHERE kind LIKE 'linear.%'")
    await world.pool.execute("DELETE FROM sentry_error_mappings")
    await world.drain()  # a retry of the whole job: issueCreate refused as existing, found by its id
    assert len(world.linear.issues) == 1 and len(world.linear.called("issueCreate")) == 2
    assert await world.pool.fetchval("SELECT linear_issue_id FROM sentry_error_mappings") == "ENG-1"


async def test_retries_stop_after_max_attempts_but_replay_still_works(world: World, broken: None) -> None:
    await world.pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'webhooks.retry'",
        {"max_attempts": 2, "base_delay_s": 1},
    )
    await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")
    await world.pool.execute("UPDATE webhook_deliveries SET next_attempt_at = now()")
    await scheduler.tick(world.pool, RETRY_JOB)
    row = await world.pool.fetchrow("SELECT * FROM webhook_deliveries")
    assert row["status"] == "dead" and row["attempts"] == 2 and row["next_attempt_at"] is None
    await world.pool.execute(REPAIR)
    await scheduler.tick(world.pool, RETRY_JOB)
    assert await world.pool.fetchval("SELECT status FROM webhook_deliveries") == "dead"  # the job leaves it
    outcome = await commands.replay(
        make_config(world.ctx.config.database_url), argparse.Namespace(id=None, failed=True), wire()
    )
    assert outcome == 0 and await world.pool.fetchval("SELECT status FROM webhook_deliveries") == "processed"


async def test_deliveries_command_runs_from_the_shell(world: World, broken: None, database_url: str) -> None:
    await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue", request_id="d" * 32)
    env = {**os.environ, "DATABASE_URL": database_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "app.py",
        "deliveries",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert "d" * 32 in out.decode() and "1 failed delivery" in out.decode()


async def test_linear_rate_limited_waits_without_burning_attempts(world: World) -> None:
    world.linear.rate_limit(times=1, reset_in_s=120)
    await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")
    await world.drain()
    job = await world.pool.fetchrow(
        "SELECT *, next_attempt_at - now() AS wait FROM outbox WHERE kind = 'linear.create_issue'"
    )
    assert job["status"] == "pending" and job["attempts"] == 0 and "rate limited" in job["last_error"]
    assert 100 < job["wait"].total_seconds() <= 121
    await world.make_due()
    await world.drain()
    assert await world.pool.fetchval("SELECT linear_issue_id FROM sentry_error_mappings") == "ENG-1"


async def test_missing_linear_key_waits_in_the_outbox(world_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    world: World = await world_factory(linear_api_key=None)
    await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")
    await world.drain()
    job = await world.pool.fetchrow("SELECT * FROM outbox WHERE kind = 'linear.create_issue'")
    assert job["status"] == "pending" and job["attempts"] == 0 and "LINEAR_API_KEY" in job["last_error"]
    assert any(getattr(r, "fields", {}).get("missing") == "LINEAR_API_KEY" for r in caplog.records)
    assert world.linear.operations == []


async def test_slack_429_with_retry_after_then_posted(world: World) -> None:
    # A 429 becomes RetryLater(Retry-After) at once: nothing sleeps or retries inside the outbox pass.
    world.slack.rate_limit("chat.postMessage", retry_after=1, times=1)
    await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")
    await world.drain()
    job = await world.pool.fetchrow(
        "SELECT *, next_attempt_at - now() AS wait FROM outbox WHERE kind = 'incident.announce'"
    )
    assert job["status"] == "pending" and job["attempts"] == 0 and "rate limited" in job["last_error"]
    assert job["wait"].total_seconds() <= 1.5
    assert await world.pool.fetchval("SELECT slack_thread_ts FROM infrastructure_incidents") is None
    await world.make_due()
    await world.drain()
    assert len(world.slack.called("chat.postMessage")) == 2
    assert await world.pool.fetchval("SELECT slack_thread_ts FROM infrastructure_incidents") is not None


async def test_thread_update_waits_for_the_announcement(world_factory: Any) -> None:
    world: World = await world_factory(slack_incidents_channel=None)
    await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")
    await world.send.sentry(sentry_variant("issue.created", "assigned"), "issue")
    await world.drain()
    rows = {r["kind"]: r for r in await world.pool.fetch("SELECT * FROM outbox")}
    assert "SLACK_INCIDENTS_CHANNEL" in rows["incident.announce"]["last_error"]
    assert "no incident thread" in rows["incident.update"]["last_error"]
    assert world.slack.called("chat.postMessage") == []


async def test_thread_reply_waits_until_the_announcement_is_posted(world: World) -> None:
    world.slack.rate_limit("chat.postMessage", retry_after=1, times=1)  # the announcement has to wait
    await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")
    await world.send.sentry(sentry_variant("issue.created", "assigned"), "issue")
    await world.drain()
    reply = await world.pool.fetchrow("SELECT * FROM outbox WHERE kind = 'incident.update'")
    assert reply["status"] == "pending" and "not posted yet" in reply["last_error"] and reply["attempts"] == 0
    await world.make_due()
    await world.drain()
    await world.make_due()
    await world.drain()
    posts = world.slack.called("chat.postMessage")
    ts = await world.pool.fetchval("SELECT slack_thread_ts FROM infrastructure_incidents")
    assert [p.args.get("thread_ts") for p in posts if "thread_ts" in p.args] == [ts]
