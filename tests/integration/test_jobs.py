"""The outbox worker and the periodic-job lock, against the real database."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
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


async def _refused(ctx: outbox.Context, payload: dict[str, Any]) -> None:
    raise outbox.Permanent("Slack chat.postMessage refused: channel_not_found")


HANDLERS: dict[str, outbox.Handler] = {
    "test.ok": _ok,
    "test.rate_limited": _rate_limited,
    "test.broken": _broken,
    "test.refused": _refused,
}


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


async def test_the_outbox_waits_for_a_burst_of_answers_to_pass_but_is_never_stopped(ctx: outbox.Context) -> None:
    """While answers are being made the worker waits (in short steps) before a batch; a burst that never
    ends holds it at most MAX_YIELDS steps per batch, so the row is still delivered."""
    asked = 0

    def burst_then_calm() -> bool:
        nonlocal asked
        asked += 1
        return asked <= 3

    async with ctx.pool.acquire() as conn:
        await outbox.enqueue(conn, "test.ok", {"n": "calm"})
        await outbox.enqueue(conn, "test.ok", {"n": "endless"})
    worker = asyncio.create_task(outbox.run_worker(ctx, asyncio.Event(), poll_s=3600, busy=burst_then_calm))
    try:
        async with asyncio.timeout(10):
            while CALLS["calm"] == 0:
                await asyncio.sleep(0.01)
        assert asked == 4, "asked until the burst passed, then delivered"
    finally:
        worker.cancel()
    asked = 0

    def endless() -> bool:
        nonlocal asked
        asked += 1
        return True

    await ctx.pool.execute(
        "UPDATE outbox SET status = 'pending', next_attempt_at = now(), locked_until = NULL WHERE kind = 'test.ok'"
    )
    CALLS.clear()
    worker = asyncio.create_task(outbox.run_worker(ctx, asyncio.Event(), poll_s=3600, busy=endless))
    try:
        async with asyncio.timeout(10):
            while CALLS["endless"] == 0:
                await asyncio.sleep(0.01)
        assert asked == scheduler.MAX_YIELDS
    finally:
        worker.cancel()


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


async def test_a_permanent_failure_is_dead_at_once_and_stalls_nothing_behind_it(ctx: outbox.Context) -> None:
    async with ctx.pool.acquire() as conn:
        await outbox.enqueue(conn, "test.refused", {})
        for i in range(3):
            await outbox.enqueue(conn, "test.ok", {"n": f"behind-{i}"})
    assert await outbox.deliver_due(ctx) == 4
    poison = await ctx.pool.fetchrow("SELECT status, attempts, last_error FROM outbox WHERE kind = 'test.refused'")
    assert poison["status"] == "dead" and poison["attempts"] == 1 and "channel_not_found" in poison["last_error"]
    assert await ctx.pool.fetchval("SELECT count(*) FROM outbox WHERE status = 'done'") == 3
    assert await outbox.deliver_due(ctx) == 0, "never retried blindly"
    (dead,) = await outbox.list_dead(ctx.pool)
    assert dead.kind == "test.refused" and "channel_not_found" in (dead.last_error or "")


async def test_dead_rows_can_be_requeued(ctx: outbox.Context) -> None:
    async with ctx.pool.acquire() as conn:
        await outbox.enqueue(conn, "test.refused", {})
        await outbox.enqueue(conn, "nobody.handles.this", {})
    await outbox.deliver_due(ctx)
    dead = await outbox.list_dead(ctx.pool)
    assert len(dead) == 2
    assert await outbox.requeue(ctx.pool, [dead[0].id]) == [dead[0].id]
    row = await ctx.pool.fetchrow("SELECT status, attempts FROM outbox WHERE id = $1", dead[0].id)
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert await outbox.requeue(ctx.pool, None) == [dead[1].id]
    assert await outbox.list_dead(ctx.pool) == []


async def test_a_handler_sees_whether_an_earlier_attempt_may_have_sent(ctx: outbox.Context) -> None:
    seen: list[tuple[int, bool]] = []

    async def flaky(_: outbox.Context, payload: dict[str, Any]) -> None:
        claim = outbox.current()
        assert claim is not None
        seen.append((claim.attempts, outbox.in_doubt()))
        if len(seen) == 1:
            raise outbox.RetryLater(0, "rate limited: nothing was sent")
        if len(seen) == 2:
            raise TimeoutError("the answer never came")

    worker = outbox.Context(pool=ctx.pool, config=ctx.config, handlers={"test.flaky": flaky})
    async with ctx.pool.acquire() as conn:
        await outbox.enqueue(conn, "test.flaky", {})
    for _ in range(3):
        await ctx.pool.execute("UPDATE outbox SET next_attempt_at = now()")
        await outbox.deliver_due(worker)
    assert seen == [(1, False), (1, False), (2, True)], "a 429 leaves no doubt; a timeout does"
    assert outbox.current() is None


async def test_a_worker_whose_lease_expired_cannot_undo_the_next_claims_delivery(ctx: outbox.Context) -> None:
    """Worker A stalls past its lease; B claims the row and delivers it; A's late failure must not put
    the row back in the queue (it would be sent a second time)."""
    a_started, release_a = asyncio.Event(), asyncio.Event()

    async def send(_: outbox.Context, payload: dict[str, Any]) -> dict[str, Any]:
        claim = outbox.current()
        assert claim is not None
        if claim.attempts == 1:
            a_started.set()
            await release_a.wait()
            raise ConnectionError("A's call finally failed")
        return {"sent_by": "B"}

    a, b = (outbox.Context(pool=ctx.pool, config=ctx.config, handlers={"test.send": send}) for _ in range(2))
    async with ctx.pool.acquire() as conn:
        await outbox.enqueue(conn, "test.send", {})
    worker_a = asyncio.create_task(outbox.deliver_due(a))
    async with asyncio.timeout(5):
        await a_started.wait()
    await ctx.pool.execute("UPDATE outbox SET locked_until = now() - interval '1 second'")  # the lease ran out
    assert await outbox.deliver_due(b) == 1
    release_a.set()
    await worker_a
    row = await ctx.pool.fetchrow("SELECT status, result, lease FROM outbox")
    assert (row["status"], row["result"], row["lease"]) == ("done", {"sent_by": "B"}, None)
    assert await outbox.deliver_due(b) == 0, "A's late outcome did not queue it again"


async def test_a_late_done_does_not_complete_a_row_another_claim_holds(ctx: outbox.Context) -> None:
    b_started, release_a, release_b = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def send(_: outbox.Context, payload: dict[str, Any]) -> dict[str, Any]:
        claim = outbox.current()
        assert claim is not None
        if claim.attempts == 1:
            await release_a.wait()
            return {"sent_by": "A"}
        b_started.set()
        await release_b.wait()
        raise outbox.RetryLater(60, "B was rate limited")

    a, b = (outbox.Context(pool=ctx.pool, config=ctx.config, handlers={"test.send": send}) for _ in range(2))
    async with ctx.pool.acquire() as conn:
        await outbox.enqueue(conn, "test.send", {})
    worker_a = asyncio.create_task(outbox.deliver_due(a))
    async with asyncio.timeout(5):
        while await ctx.pool.fetchval("SELECT lease FROM outbox") is None:
            await asyncio.sleep(0.01)
    await ctx.pool.execute("UPDATE outbox SET locked_until = now() - interval '1 second'")
    worker_b = asyncio.create_task(outbox.deliver_due(b))
    async with asyncio.timeout(5):
        await b_started.wait()
    b_lease = await ctx.pool.fetchval("SELECT lease FROM outbox")
    release_a.set()
    await worker_a
    row = await ctx.pool.fetchrow("SELECT status, lease FROM outbox")
    assert (row["status"], row["lease"]) == ("pending", b_lease), "still held by B"
    release_b.set()
    await worker_b
    row = await ctx.pool.fetchrow("SELECT status, last_error FROM outbox")
    assert row["status"] == "pending" and row["last_error"] == "B was rate limited"


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


async def test_retention_deletes_only_done_rows_older_than_the_setting(pool: asyncpg.Pool) -> None:
    await pool.execute(
        """
        INSERT INTO outbox (kind, status, done_at, created_at)
        SELECT 'test.old', 'done', now() - interval '8 days', now() - interval '8 days' FROM generate_series(1, 30);
        INSERT INTO outbox (kind, status, done_at) VALUES ('test.recent', 'done', now() - interval '2 days');
        INSERT INTO outbox (kind, status, created_at) VALUES ('test.dead', 'dead', now() - interval '30 days');
        INSERT INTO outbox (kind, created_at) VALUES ('test.pending', now() - interval '30 days');
        """
    )
    assert await scheduler.tick(pool, outbox.retention_job()) is True
    kinds = sorted(r["kind"] for r in await pool.fetch("SELECT kind FROM outbox"))
    assert kinds == ["test.dead", "test.pending", "test.recent"]
    await pool.execute(
        "UPDATE agent_swarm_config SET config_value = '{\"done_days\": 1}' WHERE config_key = $1", outbox.RETENTION_KEY
    )
    assert await outbox.prune(pool) == 1
    assert sorted(r["kind"] for r in await pool.fetch("SELECT kind FROM outbox")) == ["test.dead", "test.pending"]


async def test_the_claim_and_the_prune_use_their_indexes(pool: asyncpg.Pool) -> None:
    await pool.execute(
        """
        INSERT INTO outbox (kind, status, done_at)
        SELECT 'test.done', 'done', now() - make_interval(secs => g) FROM generate_series(1, 20000) g;
        INSERT INTO outbox (kind) SELECT 'test.pending' FROM generate_series(1, 20);
        ANALYZE outbox;
        """
    )
    async with pool.acquire() as conn, conn.transaction():
        claim = await conn.fetchval("EXPLAIN (FORMAT JSON) " + outbox.CLAIM, outbox.BATCH, 120.0)
        prune = await conn.fetchval("EXPLAIN (FORMAT JSON) " + outbox.PRUNE, timedelta(days=7), outbox.PRUNE_BATCH)
    assert "outbox_due_idx" in str(claim) and "Seq Scan" not in str(claim), claim
    assert "outbox_done_idx" in str(prune), prune


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
