"""Fault (e): a burst larger than the pool while the database cannot make progress (the deliveries table and
the bus are locked by someone else). Webhook deliveries are stored in groups (jobs/intake.py) on one
connection: those behind the stuck group wait a bounded time, then get a clear 503; API reads beyond the pool
wait a bounded time for a connection, then get 503 ``pool_exhausted``; never a hang or a 500. Everything
finishes once the locks go, and retried deliveries are stored once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient

from db.connect import ACQUIRE_TIMEOUT_S
from handlers.keys import POOL
from tests.conftest import bearer
from tests.reliability.conftest import AppProcess, wait_for
from tests.reliability.deliveries import SENTRY_SECRET, Delivery, delivery, per_issue, send

BURST = 40  # the pool holds 10
READERS = 15
LOCK_WAITERS = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"


async def post(http: aiohttp.ClientSession, app: AppProcess, d: Delivery) -> tuple[int, float]:
    started = time.monotonic()
    status = await send(http, app.url, d, timeout_s=60)
    return status or 0, time.monotonic() - started


async def read_bus(http: aiohttp.ClientSession, app: AppProcess) -> tuple[int, dict[str, Any], str | None]:
    async with http.get(f"{app.url}/api/v1/events", headers=bearer("service_role")) as r:
        return r.status, await r.json(), r.headers.get("Retry-After")


async def _lock_waiters(conn: asyncpg.Connection, at_least: int) -> bool:
    waiting = await conn.fetchval(LOCK_WAITERS)
    return bool(waiting >= at_least)


async def test_a_burst_larger_than_the_pool(own_database: str, start_app: Any) -> None:
    app: AppProcess = start_app(DATABASE_URL=own_database, SENTRY_CLIENT_SECRET=SENTRY_SECRET)
    await app.ready()
    blocker = await asyncpg.connect(own_database)
    tx = blocker.transaction()
    await tx.start()
    await blocker.execute("LOCK TABLE webhook_deliveries IN ACCESS EXCLUSIVE MODE")
    deliveries = [delivery(f"6{n:06d}") for n in range(BURST)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        started = time.monotonic()
        burst = [asyncio.create_task(post(http, app, deliveries[0]))]
        await wait_for(lambda: _lock_waiters(blocker, 1), ACQUIRE_TIMEOUT_S)  # its group's INSERT is stuck
        burst += [asyncio.create_task(post(http, app, d)) for d in deliveries[1:]]
        first_503 = await wait_for(lambda: any(t.done() and t.result()[0] == 503 for t in burst), ACQUIRE_TIMEOUT_S * 4)
        waited_s = time.monotonic() - started
        readers = [asyncio.create_task(read_bus(http, app)) for _ in range(READERS)]
        await wait_for(lambda: all(t.done() for t in readers), ACQUIRE_TIMEOUT_S * 2)
        await tx.rollback()
        released = time.monotonic()
        async with asyncio.timeout(30):
            answers = await asyncio.gather(*burst)
            api = await asyncio.gather(*readers)
        drained_s = time.monotonic() - released
        statuses = [a[0] for a in answers]
        refused = [d for d, s in zip(deliveries, statuses, strict=True) if s == 503]
        retried = [(await post(http, app, d))[0] for d in refused]
        async with http.get(f"{app.url}/readyz") as r:
            ready = r.status
    await blocker.close()
    conn = await asyncpg.connect(own_database)
    try:
        made = await wait_for(lambda: _made(conn), 20)
    finally:
        await conn.close()
    not_stored = [e for e in app.events("webhook.sentry.store_failed") if "no database connection free" in e["error"]]
    assert first_503 and set(statuses) == {200, 503} and set(retried) == {200}, (statuses, retried)
    assert len(not_stored) == len(refused) and ready == 200
    assert max(a[1] for a in answers if a[0] == 503) < ACQUIRE_TIMEOUT_S + 5, "bounded waits"
    assert {status for status, _, _ in api} == {200}, "the stuck store holds one connection, not the pool"
    assert len(made) == BURST and set(made.values()) == {(1, 1)}
    print(
        f"\nFAULT burst: {BURST} concurrent deliveries and {READERS} bus reads against a pool of 10 with the table"
        f" locked: {statuses.count(200)} x 200, {len(refused)} x 503 (first after {waited_s:.1f} s, slowest 503"
        f" {max(a[1] for a in answers if a[0] == 503):.1f} s), 0 hung, 0 x 500; all answered {drained_s:.2f} s"
        f" after the locks went; retried 503s all 200; lost 0 doubled 0; API reads meanwhile:"
        f" {sorted(a[0] for a in api)}"
    )


async def _made(conn: asyncpg.Connection) -> dict[str, tuple[int, int]] | None:
    made = await per_issue(conn)
    return made if len(made) == BURST else None


async def test_api_reads_beyond_a_full_pool_get_503_pool_exhausted(client: TestClient[Any, Any]) -> None:
    pool = client.app[POOL]
    taken = [await pool.acquire() for _ in range(pool.get_max_size())]
    pool.acquire_timeout_s = 0.2
    try:
        r = await client.get("/api/v1/events", headers=bearer("service_role"))
        body = await r.json()
    finally:
        pool.acquire_timeout_s = ACQUIRE_TIMEOUT_S
        for conn in taken:
            await pool.release(conn)
    assert (r.status, body.get("reason"), r.headers.get("Retry-After")) == (503, "pool_exhausted", "1"), body
    assert (await client.get("/api/v1/events", headers=bearer("service_role"))).status == 200
