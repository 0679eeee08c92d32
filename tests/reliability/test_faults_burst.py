"""Fault (e): a burst larger than the pool while every request holds its connection (the deliveries table
is locked by someone else). Requests beyond the pool wait a bounded time for a connection, then get a clear
503 (``pool_exhausted``), never a hang or a 500; the rest finish once the lock goes; retries are stored once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import asyncpg

from db.connect import ACQUIRE_TIMEOUT_S
from tests.conftest import bearer
from tests.reliability.conftest import AppProcess, wait_for
from tests.reliability.deliveries import SENTRY_SECRET, Delivery, delivery, per_issue, send

BURST = 40  # the pool holds 10


async def post(http: aiohttp.ClientSession, app: AppProcess, d: Delivery) -> tuple[int, float]:
    started = time.monotonic()
    status = await send(http, app.url, d, timeout_s=60)
    return status or 0, time.monotonic() - started


async def read_bus(http: aiohttp.ClientSession, app: AppProcess) -> tuple[int, dict[str, Any], str | None]:
    async with http.get(f"{app.url}/api/v1/events", headers=bearer("service_role")) as r:
        return r.status, await r.json(), r.headers.get("Retry-After")


async def _lock_waiters(conn: asyncpg.Connection, at_least: int) -> bool:
    waiting = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
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
        burst = [asyncio.create_task(post(http, app, d)) for d in deliveries]
        first_503 = await wait_for(lambda: any(t.done() and t.result()[0] == 503 for t in burst), ACQUIRE_TIMEOUT_S * 4)
        waited_s = time.monotonic() - started
        # The pool is all held now: every connection waits on the locked table (observed, not assumed).
        await wait_for(lambda: _lock_waiters(blocker, 10), ACQUIRE_TIMEOUT_S * 2)
        readers = [asyncio.create_task(read_bus(http, app)) for _ in range(5)]
        await wait_for(lambda: all(t.done() for t in readers), ACQUIRE_TIMEOUT_S * 3)
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
    assert {(status, body.get("reason"), after) for status, body, after in api} == {(503, "pool_exhausted", "1")}, api
    assert len(app.events("http.pool_exhausted")) == len(api)
    assert len(made) == BURST and set(made.values()) == {(1, 1)}
    print(
        f"\nFAULT burst: {BURST} concurrent deliveries against a pool of 10 with the table locked:"
        f" {statuses.count(200)} x 200, {len(refused)} x 503 pool_exhausted (first after {waited_s:.1f} s,"
        f" slowest 503 {max(a[1] for a in answers if a[0] == 503):.1f} s), 0 hung, 0 x 500; all answered"
        f" {drained_s:.2f} s after the lock went; retried 503s all 200; lost 0 doubled 0;"
        f" API reads meanwhile: {[a[0] for a in api]} ({api[0][1].get('error')})"
    )


async def _made(conn: asyncpg.Connection) -> dict[str, tuple[int, int]] | None:
    made = await per_issue(conn)
    return made if len(made) == BURST else None
