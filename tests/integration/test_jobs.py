"""The outbox worker and the periodic-job lock, against the real database."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import asyncpg
import pytest

from config import Config
from db.listen import Hub, running
from jobs import outbox, scheduler

CALLS: Counter[str] = Counter()


async def _ok(ctx: outbox.Context, payload: dict[str, Any]) -> dict[str, Any]:
    CALLS[payload["n"]] += 1
    await asyncio.sleep(0.01)
    return {"echo": payload["n"]}


async def _rate_limited(ctx: outbox.Context, payload: dict[str, Any]) -> None:
    raise outbox.RetryLater(30, "429 Retry-After 30")


async def _broken(ctx: outbox.Context, payload: dict[str, Any]) -> None:
    raise ConnectionError("peer went away")


HANDLERS: dict[str, outbox.Handler] = {"test.ok": _ok, "test.rate_limited": _rate_limited, "test.broken": _broken}


@pytest.fixture
def ctx(pool: asyncpg.Pool) -> outbox.Context:
    CALLS.clear()
    return outbox.Context(pool=pool, config=Config(), handlers=HANDLERS)


async def test_enqueue_is_deduplicated_in_sql(ctx: outbox.Context) -> None:
    async with ctx.pool.acquire() as conn:
        first = await outbox.enqueue(conn, "test.ok", {"n": "a"}, dedupe_key="k1")
        second = await outbox.enqueue(conn, "test.ok", {"n": "a"}, dedupe_key="k1")
    assert first is not None and second is None
    assert await ctx.pool.fetchval("SELECT count(*) FROM outbox") == 1


async def test_a_kind_nobody_handles_is_dead_at_once_with_a_clear_error(ctx: outbox.Context) -> None:
    async with ctx.pool.acquire() as conn:
        await outbox.enqueue(conn, "nobody.handles.this", {})
    assert await outbox.deliver_due(ctx) == 1
    row = await ctx.pool.fetchrow("SELECT status, attempts, last_error FROM outbox")
    assert row["status"] == "dead" and row["attempts"] == 1
    assert "no outbox handler registered for 'nobody.handles.this'" in row["last_error"]


async def test_delivers_and_records_the_result(ctx: outbox.Context) -> None:
    async with ctx.pool.acquire() as conn:
        await outbox.enqueue(conn, "test.ok", {"n": "x"})
    assert await outbox.deliver_due(ctx) == 1
    row = await ctx.pool.fetchrow("SELECT status, result, attempts FROM outbox")
    assert (row["status"], row["result"], row["attempts"]) == ("done", {"echo": "x"}, 1)
    assert await outbox.deliver_due(ctx) == 0


async def test_retry_later_waits_without_burning_attempts(ctx: outbox.Context) -> None:
    async with ctx.pool.acquire() as conn:
        await outbox.enqueue(conn, "test.rate_limited", {})
    await outbox.deliver_due(ctx)
    row = await ctx.pool.fetchrow("SELECT status, attempts, last_error, next_attempt_at - now() AS wait FROM outbox")
    assert row["status"] == "pending" and row["attempts"] == 0 and "429" in row["last_error"]
    assert 25 < row["wait"].total_seconds() <= 30
    assert await outbox.deliver_due(ctx) == 0, "not due yet"


async def test_failures_back_off_then_go_dead(ctx: outbox.Context) -> None:
    async with ctx.pool.acquire() as conn:
        await outbox.enqueue(conn, "test.broken", {})
    await outbox.deliver_due(ctx)
    row = await ctx.pool.fetchrow("SELECT status, attempts, last_error FROM outbox")
    assert row["status"] == "pending" and row["attempts"] == 1 and "peer went away" in row["last_error"]
    for _ in range(outbox.MAX_ATTEMPTS):
        await ctx.pool.execute("UPDATE outbox SET next_attempt_at = now()")
        await outbox.deliver_due(ctx)
    row = await ctx.pool.fetchrow("SELECT status, attempts FROM outbox")
    assert row["status"] == "dead" and row["attempts"] == outbox.MAX_ATTEMPTS


async def test_competing_workers_deliver_each_row_once(ctx: outbox.Context) -> None:
    async with ctx.pool.acquire() as conn:
        for i in range(60):
            await outbox.enqueue(conn, "test.ok", {"n": str(i)})
    others = [outbox.Context(pool=ctx.pool, config=ctx.config, handlers=HANDLERS) for _ in range(3)]

    async def drain(c: outbox.Context) -> None:
        while await outbox.deliver_due(c, limit=5):
            pass

    await asyncio.gather(drain(ctx), *(drain(c) for c in others))
    assert len(CALLS) == 60 and set(CALLS.values()) == {1}
    assert await ctx.pool.fetchval("SELECT count(*) FROM outbox WHERE status = 'done'") == 60


async def test_worker_wakes_on_insert(ctx: outbox.Context, database_url: str) -> None:
    async with running(Hub([outbox.CHANNEL]), database_url) as hub:
        await asyncio.wait_for(hub.listening.wait(), 5)
        worker = asyncio.create_task(outbox.run_worker(ctx, hub.subscribe(outbox.CHANNEL), poll_s=30))
        try:
            await _woken_by_insert(ctx)
        finally:
            worker.cancel()
            with pytest.raises(asyncio.CancelledError):
                await worker


async def _woken_by_insert(ctx: outbox.Context) -> None:
    async with ctx.pool.acquire() as conn:
        await outbox.enqueue(conn, "test.ok", {"n": "woken"})
    async with asyncio.timeout(5):  # the worker polls every 30 s: only the NOTIFY can wake it in time
        while not CALLS["woken"]:
            await asyncio.sleep(0.02)


async def test_a_job_tick_runs_on_one_replica_at_a_time(pool: asyncpg.Pool) -> None:
    runs = 0

    async def slow(_: asyncpg.Pool) -> None:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.3)

    job = scheduler.Job("test.slow", 60, slow)
    ran = await asyncio.gather(*(scheduler.tick(pool, job) for _ in range(4)))
    assert sorted(ran) == [False, False, False, True] and runs == 1
    assert await scheduler.tick(pool, job) is True, "the lock is released after the tick"
