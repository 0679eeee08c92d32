"""Round trips of the ingest path (issue 13): statements per Sentry ``issue.created`` from the store to the
processed row, and a burst of one issue's events counted in one update. Statements are counted with
asyncpg's query logger on a one-connection pool that both the store and the worker use."""

from __future__ import annotations

import json

import asyncpg

from app import wire
from integrations.linear import client as linear_client
from jobs import inbox, inbox_worker
from tests.integration.webhooks.conftest import World, fixture_bytes

ISSUE = "1170820242"


async def store(pool: asyncpg.Pool, delivery_id: str, event_type: str, action: str, body: bytes, key: str) -> None:
    stored = await inbox.store(
        pool,
        source="sentry",
        delivery_id=delivery_id,
        event_type=event_type,
        action=action,
        headers={},
        body=body,
        order_key=key,
        handled=True,
    )
    assert stored is not None


async def store_events(pool: asyncpg.Pool, n: int) -> None:
    """``n`` new events of the issue, stored (event-0, event-1 ...)."""
    template = json.loads(fixture_bytes("sentry", "error.created"))
    for i in range(n):
        template["data"]["error"]["event_id"] = f"{i:032x}"
        body = json.dumps(template, separators=(",", ":")).encode()
        await store(pool, f"event-{i}", "error", "created", body, f"sentry:{ISSUE}")


async def test_statements_per_sentry_issue_created(world: World, counted: tuple[asyncpg.Pool, list[str]]) -> None:
    pool, statements = counted
    await store(pool, "one", "issue", "created", fixture_bytes("sentry", "issue.created"), f"sentry:{ISSUE}")
    assert len(statements) == 1, "the store is one statement (and its own commit)"
    assert await inbox_worker.drain_once(pool, wire().router) == 1
    ours = [s for s in statements if "typeinfo_tree" not in s and "set_config('jit'" not in s]  # asyncpg's, once
    print("\n".join(ours))
    assert sum(1 for s in ours if s.startswith("COMMIT")) == 1, "the worker's batch commits once"
    assert len(ours) <= 8, f"{len(ours)} statements: {ours}"  # 14 in 2 commits before issue 13
    assert not [s for s in ours if "pg_advisory_xact_lock" in s], "the claim holds the issue's lock already"
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 1


async def test_a_known_sentry_issue_is_found_by_the_statement_that_would_open_it_and_queues_nothing(
    world: World, counted: tuple[asyncpg.Pool, list[str]]
) -> None:
    """The issue's latest incident, or a new one with its Slack and Linear work, in one statement; a later
    delivery about it (here after the outbox has pruned the first one's rows) opens and queues nothing."""
    pool, statements = counted
    await store(pool, "one", "issue", "created", fixture_bytes("sentry", "issue.created"), f"sentry:{ISSUE}")
    assert await inbox_worker.drain_once(pool, wire().router) == 1
    assert await world.pool.fetchval("SELECT count(*) FROM outbox") == 2
    await world.pool.execute("DELETE FROM outbox")
    again = json.loads(fixture_bytes("sentry", "issue.created"))
    again["data"]["issue"]["title"] = "seen again"
    await store(pool, "two", "issue", "created", json.dumps(again).encode(), f"sentry:{ISSUE}")
    statements.clear()
    assert await inbox_worker.drain_once(pool, wire().router) == 1
    assert len([s for s in statements if "infrastructure_incidents" in s]) == 1, statements
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 1
    assert await world.pool.fetchval("SELECT count(*) FROM fix_metrics") == 1
    assert await world.pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_burst_of_one_issues_events_is_one_update(
    world: World, counted: tuple[asyncpg.Pool, list[str]]
) -> None:
    assert (await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")).status == 200
    await world.drain()  # the Linear issue and so the mapping exist
    before = await world.pool.fetchval("SELECT event_count FROM sentry_error_mappings")
    pool, statements = counted
    await store_events(pool, 5)
    statements.clear()
    assert await inbox_worker.drain_once(pool, wire().router) == 5
    updates = [s for s in statements if s.startswith("WITH counted AS ( UPDATE sentry_error_mappings")]
    assert len(updates) == 1, statements
    assert await world.pool.fetchval("SELECT event_count FROM sentry_error_mappings") == before + 5
    rows = await world.pool.fetch("SELECT status, attempts FROM webhook_deliveries WHERE delivery_id LIKE 'event-%'")
    assert {(r["status"], r["attempts"]) for r in rows} == {("processed", 1)}


async def test_events_before_the_mapping_exists_count_on_the_incident_in_the_same_one_statement(
    world: World, counted: tuple[asyncpg.Pool, list[str]]
) -> None:
    """The Linear issue (and so the mapping) is not open yet: the burst's 5 events are counted on the incident
    by the statement that looked for the mapping (it took a second statement)."""
    pool, statements = counted
    await store(pool, "one", "issue", "created", fixture_bytes("sentry", "issue.created"), f"sentry:{ISSUE}")
    assert await inbox_worker.drain_once(pool, wire().router) == 1
    await store_events(pool, 5)
    statements.clear()
    assert await inbox_worker.drain_once(pool, wire().router) == 5
    touching = [s for s in statements if "sentry_error_mappings" in s or "infrastructure_incidents" in s]
    assert len(touching) == 1 and touching[0].startswith("WITH counted AS ("), statements
    details = await world.pool.fetchval("SELECT error_details FROM infrastructure_incidents")
    assert details["pending_events"] == 5
    assert await world.pool.fetchval("SELECT count(*) FROM sentry_error_mappings") == 0


async def test_linear_calls_share_one_session_and_ask_the_team_once(world: World) -> None:
    for issue_id in ("5001", "5002", "5003"):
        payload = json.loads(fixture_bytes("sentry", "issue.created"))
        payload["data"]["issue"]["id"] = issue_id
        body = json.dumps(payload, separators=(",", ":")).encode()
        assert (await world.send.sentry(body, "issue")).status == 200
    await world.drain()
    assert len(world.linear.called("issueCreate")) == 3
    assert len(world.linear.called("teams")) == 1, "the team id is asked once per outbox context"
    session = await world.ctx.clients[linear_client.SESSION]
    payload = json.loads(fixture_bytes("sentry", "issue.created"))
    payload["data"]["issue"]["id"] = "5004"
    await world.send.sentry(json.dumps(payload).encode(), "issue")
    await world.drain()
    assert await world.ctx.clients[linear_client.SESSION] is session, "one gql session for the context"
    assert len(world.linear.called("issueCreate")) == 4 and len(world.linear.called("teams")) == 1


async def test_a_batch_that_succeeds_takes_one_savepoint(world: World, counted: tuple[asyncpg.Pool, list[str]]) -> None:
    """Savepoints cost two round trips each: the batch goes under one, and one per delivery only when a
    delivery fails (tests/reliability/test_inbox_poison.py)."""
    pool, statements = counted
    template = json.loads(fixture_bytes("sentry", "issue.created"))
    for n in range(4):
        template["data"]["issue"]["id"] = f"99000{n}"
        body = json.dumps(template, separators=(",", ":")).encode()
        await store(pool, f"issue-{n}", "issue", "created", body, f"sentry:99000{n}")
    statements.clear()
    assert await inbox_worker.drain_once(pool, wire().router) == 4
    assert sum(1 for s in statements if s.startswith("SAVEPOINT")) == 1, statements
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 4
