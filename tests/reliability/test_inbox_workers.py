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

from db import connect
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
