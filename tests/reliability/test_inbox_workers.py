"""The inbox workers (issue 13): several at once never process a key's deliveries out of order or together,
and a failing delivery does not take its batch down.

The order test runs three workers on one database, as three replicas would (their batches are separate
transactions on separate connections), with a callback that asks PostgreSQL, from another connection,
whether an older delivery of its key is still unprocessed when it starts.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg

from db import connect, locks
from jobs import inbox, inbox_worker
from jobs.routing import Router, WebhookEvent

KEYS = ("sentry:1", "sentry:2", "github:ci", "linear:ENG-1")
OLDER_WAITING = """
SELECT count(*) FROM webhook_deliveries WHERE order_key = $1 AND delivery_id < $2 AND status <> 'processed'
"""


async def store(pool: asyncpg.Pool, delivery_id: str, key: str | None, payload: dict[str, Any]) -> int:
    row_id = await inbox.store(
        pool,
        source="sentry",
        delivery_id=delivery_id,
        event_type="test",
        action=None,
        headers={},
        body=json.dumps({**payload, "id": delivery_id}).encode(),
        order_key=key,
        handled=True,
    )
    assert row_id is not None
    return row_id


async def test_three_workers_keep_each_keys_order(pool: asyncpg.Pool, database_url: str) -> None:
    observer = await connect.create_pool(database_url, min_size=1, max_size=4)
    seen: list[str] = []
    out_of_order: list[str] = []

    async def callback(conn: asyncpg.Connection, event: WebhookEvent) -> None:
        key = event.payload["key"]
        if await observer.fetchval(OLDER_WAITING, key, event.delivery_id):
            out_of_order.append(event.delivery_id)
        seen.append(event.delivery_id)
        await asyncio.sleep(0.005)  # hold the batch open, so that the other workers look meanwhile

    router = Router()
    router.add("sentry", "test", callback)
    try:
        for n in range(30):
            for key in KEYS:
                await store(pool, f"{key}:{n:03}", key, {"key": key})
        async with asyncio.timeout(120):
            await asyncio.gather(*(inbox_worker.drain(pool, router, batch_size=4) for _ in range(3)))
            while await inbox_worker.drain(pool, router, batch_size=4):
                pass
    finally:
        await observer.close()
    print(f"processed {len(seen)}, out of order {len(out_of_order)}")
    assert out_of_order == []
    assert sorted(seen) == sorted(f"{k}:{n:03}" for k in KEYS for n in range(30)), "each exactly once"
    rows = await pool.fetch("SELECT status, attempts FROM webhook_deliveries")
    assert {(r["status"], r["attempts"]) for r in rows} == {("processed", 1)}


async def test_a_failing_delivery_is_rolled_back_alone(pool: asyncpg.Pool) -> None:
    async def callback(conn: asyncpg.Connection, event: WebhookEvent) -> None:
        await conn.execute(
            "INSERT INTO agent_actions (agent_name, action_type, success) VALUES ($1, 'test', true)", event.delivery_id
        )
        if event.payload.get("fail"):
            raise RuntimeError("this one fails")

    router = Router()
    router.add("sentry", "test", callback)
    for n in range(5):
        await store(pool, f"d{n}", "sentry:1" if n < 3 else None, {"fail": n == 1})
    assert await inbox_worker.drain(pool, router) == 5
    statuses = {r["delivery_id"]: r["status"] for r in await pool.fetch("SELECT * FROM webhook_deliveries")}
    assert statuses == {"d0": "processed", "d1": "failed", "d2": "processed", "d3": "processed", "d4": "processed"}
    actions = {r["agent_name"] for r in await pool.fetch("SELECT agent_name FROM agent_actions")}
    assert actions == {"d0", "d2", "d3", "d4"}, "the failed delivery's work is rolled back, the others' kept"


async def _processed(pool: asyncpg.Pool, row_id: int, deadline_s: float = 10) -> None:
    async with asyncio.timeout(deadline_s):
        while await pool.fetchval("SELECT status FROM webhook_deliveries WHERE id = $1", row_id) != "processed":
            await asyncio.sleep(0.02)


async def test_a_stored_delivery_wakes_an_idle_worker_without_a_notify(pool: asyncpg.Pool) -> None:
    """No NOTIFY per insert (it serialises commits): the storing process wakes its own worker, long
    before the worker's poll would have found the delivery."""
    assert not await pool.fetchval("SELECT count(*) FROM pg_trigger WHERE tgname = 'webhook_deliveries_notify'")
    router = Router()
    router.add("sentry", "test", lambda conn, event: asyncio.sleep(0))
    wakeup = inbox_worker.Wakeup(workers=1)
    worker = asyncio.create_task(inbox_worker.run_worker(pool, router, wakeup, 0, poll_s=3600))
    try:
        async with asyncio.timeout(10):
            while not wakeup.idle:
                await asyncio.sleep(0.01)
        row_id = await store(pool, "woken", "sentry:w", {"key": "sentry:w"})
        wakeup.one()
        await _processed(pool, row_id)
    finally:
        worker.cancel()


async def test_while_answers_are_busy_only_worker_zero_claims(pool: asyncpg.Pool) -> None:
    """A burst of webhook requests keeps the other workers off the CPU the answers need; when the burst
    falls below the mark every worker is woken and the backlog is processed."""
    router = Router()
    router.add("sentry", "test", lambda conn, event: asyncio.sleep(0))
    wakeup = inbox_worker.Wakeup(workers=2, busy_at=2)
    worker = asyncio.create_task(inbox_worker.run_worker(pool, router, wakeup, 1, poll_s=3600))
    answering = [wakeup.answer() for _ in range(3)]
    try:
        for block in answering:
            block.__enter__()
        assert wakeup.busy and wakeup.may_claim(0) and not wakeup.may_claim(1)
        async with asyncio.timeout(10):
            while 1 not in wakeup.idle:
                await asyncio.sleep(0.01)
        row_id = await store(pool, "behind-the-burst", "sentry:b", {"key": "sentry:b"})
        wakeup.one()  # busy: only worker 0 (not running here) is woken
        assert not wakeup.events[1].is_set()
        assert await pool.fetchval("SELECT status FROM webhook_deliveries WHERE id = $1", row_id) == "received"
        answering.pop().__exit__(None, None, None)  # 3 -> 2 being answered: below the mark, all woken
        assert wakeup.events[1].is_set() or 1 not in wakeup.idle
        await _processed(pool, row_id)
    finally:
        for block in answering:
            block.__exit__(None, None, None)
        worker.cancel()


async def test_a_batch_holds_its_things_locks_for_every_other_writer(pool: asyncpg.Pool, database_url: str) -> None:
    """The claim's key lock IS the domain's lock of the thing (``locks.incident``): while a batch applies a
    Sentry issue's delivery, the sweeper, the outbox or Slack cannot take that issue's lock, though the
    callbacks inside the batch skip the round trip for it."""
    observer = await connect.create_pool(database_url, min_size=1, max_size=1)
    free_during: list[bool] = []

    async def callback(conn: asyncpg.Connection, event: WebhookEvent) -> None:
        async with observer.acquire() as other, other.transaction():
            free_during.append(
                await other.fetchval(
                    "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", locks.incident("sentry", "77")
                )
            )

    router = Router()
    router.add("sentry", "test", callback)
    try:
        await store(pool, "held", "sentry:77", {"key": "sentry:77"})
        assert await inbox_worker.drain(pool, router) == 1
    finally:
        await observer.close()
    assert free_during == [False]


async def test_a_full_batch_marks_a_backlog_until_a_claim_comes_back_short(pool: asyncpg.Pool) -> None:
    """More deliveries waiting than a batch holds is a backlog (the outbox yields to it, app.answering):
    set after a full batch, cleared when the queue is drained."""
    seen: list[bool] = []
    wakeup = inbox_worker.Wakeup(workers=1)

    async def record(conn: asyncpg.Connection, event: WebhookEvent) -> None:
        seen.append(wakeup.backlog)

    router = Router()
    router.add("sentry", "test", record)
    ids = [await store(pool, f"b{n:03}", None, {}) for n in range(inbox_worker.BATCH + 5)]
    worker = asyncio.create_task(inbox_worker.run_worker(pool, router, wakeup, 0, poll_s=3600))
    try:
        await _processed(pool, ids[-1])
        async with asyncio.timeout(10):
            while 0 not in wakeup.idle:
                await asyncio.sleep(0.01)
    finally:
        worker.cancel()
    assert seen[: inbox_worker.BATCH] == [False] * inbox_worker.BATCH
    assert seen[inbox_worker.BATCH :] == [True] * 5
    assert not wakeup.backlog


def test_the_outbox_yields_to_a_backlog_as_to_a_burst_of_answers(database_url: str) -> None:
    from app import answering, build_app
    from handlers.keys import INBOX_WAKEUP
    from tests.conftest import make_config

    app = build_app(make_config(database_url))
    assert not answering(app)
    app[INBOX_WAKEUP].backlog = True
    assert answering(app)
