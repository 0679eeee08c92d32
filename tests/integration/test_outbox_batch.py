"""Settling a batch of outbox rows (issue 13): the successes are marked done together, with the writes
their handlers return (``outbox.Done``), in one transaction, and still only while each row's own claim
holds it."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from config import Config
from db import locks
from jobs import outbox

TAKE_OVER = "UPDATE outbox SET lease = gen_random_uuid(), locked_until = now() + interval '1 minute' WHERE id = $1"


async def _echo(ctx: outbox.Context, payload: dict[str, Any]) -> dict[str, Any] | None:
    return None if payload.get("nothing") else {"echo": payload["n"]}


async def test_a_batch_of_successes_is_marked_done_in_one_statement(
    pool: asyncpg.Pool, counted: tuple[asyncpg.Pool, list[str]]
) -> None:
    counted_pool, statements = counted
    async with pool.acquire() as conn:
        for n in range(5):
            await outbox.enqueue(conn, "test.echo", {"n": n, "nothing": n == 4})
    ctx = outbox.Context(pool=counted_pool, config=Config(), handlers={"test.echo": _echo})

    assert await outbox.deliver_due(ctx) == 5

    rows = await pool.fetch("SELECT status, result, lease, locked_until FROM outbox ORDER BY id")
    assert [r["status"] for r in rows] == ["done"] * 5
    assert [r["result"] for r in rows] == [{"echo": 0}, {"echo": 1}, {"echo": 2}, {"echo": 3}, None]
    assert all(r["lease"] is None and r["locked_until"] is None for r in rows)
    done = [s for s in statements if "UPDATE outbox AS o SET status = 'done'" in s]
    assert len(done) == 1, statements


async def test_a_row_another_claim_took_is_not_marked_done_by_the_batch(pool: asyncpg.Pool) -> None:
    """While the batch ran, another replica claimed one row (its lease expired): the batch marks the others
    done and leaves that one to its new holder."""

    async def taken_over(ctx: outbox.Context, payload: dict[str, Any]) -> dict[str, Any]:
        claim = outbox.current()
        assert claim is not None
        if payload["n"] == 1:
            await pool.execute(TAKE_OVER, claim.id)
        return {"echo": payload["n"]}

    async with pool.acquire() as conn:
        for n in range(3):
            await outbox.enqueue(conn, "test.taken", {"n": n})
    ctx = outbox.Context(pool=pool, config=Config(), handlers={"test.taken": taken_over})

    assert await outbox.deliver_due(ctx) == 3

    rows = await pool.fetch("SELECT payload ->> 'n' AS n, status, result, lease FROM outbox ORDER BY id")
    assert [(r["n"], r["status"]) for r in rows] == [("0", "done"), ("1", "pending"), ("2", "done")]
    assert rows[1]["result"] is None and rows[1]["lease"] is not None


MARK = "UPDATE outbox SET payload = payload || jsonb_build_object('written', 1 / $2::int) WHERE id = $1"


async def _marked(ctx: outbox.Context, payload: dict[str, Any]) -> outbox.Done:
    claim = outbox.current()
    assert claim is not None
    return outbox.Done({"n": payload["n"]}, writes=((MARK, (claim.id, payload["divisor"])),))


async def test_a_handlers_writes_run_with_its_done_only_while_its_claim_holds(pool: asyncpg.Pool) -> None:
    async def taken_over(ctx: outbox.Context, payload: dict[str, Any]) -> outbox.Done:
        claim = outbox.current()
        assert claim is not None
        if payload["n"] == 1:
            await pool.execute(TAKE_OVER, claim.id)
        return await _marked(ctx, payload)

    async with pool.acquire() as conn:
        for n in range(3):
            await outbox.enqueue(conn, "test.marked", {"n": n, "divisor": 1})
    ctx = outbox.Context(pool=pool, config=Config(), handlers={"test.marked": taken_over})

    assert await outbox.deliver_due(ctx) == 3

    rows = await pool.fetch("SELECT status, payload ? 'written' AS written FROM outbox ORDER BY id")
    assert [(r["status"], r["written"]) for r in rows] == [("done", True), ("pending", False), ("done", True)]


async def test_a_write_that_fails_holds_back_only_its_own_row(pool: asyncpg.Pool) -> None:
    """One row's write fails in the database (a division by zero): the batch's other rows are done with
    their writes; that row is retried with backoff, its error kept, like a handler that failed."""
    async with pool.acquire() as conn:
        for n, value in enumerate([1, 0, 3]):
            await outbox.enqueue(conn, "test.marked", {"n": n, "divisor": value})
    ctx = outbox.Context(pool=pool, config=Config(), handlers={"test.marked": _marked})

    assert await outbox.deliver_due(ctx) == 3

    rows = await pool.fetch(
        "SELECT status, payload ? 'written' AS written, lease, next_attempt_at > now() AS later, last_error"
        " FROM outbox ORDER BY id"
    )
    assert [(r["status"], r["written"]) for r in rows] == [("done", True), ("pending", False), ("done", True)]
    assert rows[1]["lease"] is None and rows[1]["later"] and "division by zero" in rows[1]["last_error"]


async def test_the_writes_wait_for_their_advisory_lock(pool: asyncpg.Pool) -> None:
    """A row whose writes name a lock (an incident key another transaction holds) is settled only once that
    lock is free, so its writes never interleave with that transaction's."""
    key = locks.incident("sentry", "4242")

    async def locked(ctx: outbox.Context, payload: dict[str, Any]) -> outbox.Done:
        claim = outbox.current()
        assert claim is not None
        return outbox.Done({"ok": True}, writes=((MARK, (claim.id, 1)),), locks=(key,))

    async with pool.acquire() as conn:
        await outbox.enqueue(conn, "test.locked", {})
    ctx = outbox.Context(pool=pool, config=Config(), handlers={"test.locked": locked})
    holder = await pool.acquire()
    try:
        transaction = holder.transaction()
        await transaction.start()
        await locks.xact_lock(holder, key)
        delivering = asyncio.create_task(outbox.deliver_due(ctx))
        async with asyncio.timeout(10):
            while not await pool.fetchval(WAITING_ON_ADVISORY):
                await asyncio.sleep(0.02)
        assert not delivering.done()
        assert await pool.fetchval("SELECT status FROM outbox") == "pending"
        await transaction.commit()
        async with asyncio.timeout(10):
            assert await delivering == 1
    finally:
        await pool.release(holder)
    assert await pool.fetchval("SELECT status FROM outbox") == "done"


WAITING_ON_ADVISORY = """
SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'
               AND datname = current_database())
"""


TOUCH = "UPDATE linear_own_changes SET operation = 'touched' WHERE identifier = $1"


async def _touching(ctx: outbox.Context, payload: dict[str, Any]) -> outbox.Done:
    return outbox.Done({"n": payload["n"]}, writes=((TOUCH, (f"thing-{payload['n']}",)),))


async def test_a_rows_writes_never_wait_holding_another_rows_writes(pool: asyncpg.Pool) -> None:
    """Two rows whose writes touch two things, the second held by another transaction (an inbox batch that
    may wait for the first): the first row is done at once, only the second waits. In one transaction, the
    first row's write held its lock while waiting for the second: the two waited on each other."""
    async with pool.acquire() as conn:
        for n in range(2):
            await conn.execute(
                "INSERT INTO linear_own_changes (identifier, updated_at, operation) VALUES ($1, now(), 'x')",
                f"thing-{n}",
            )
            await outbox.enqueue(conn, "test.touching", {"n": n})
    ids = [r["id"] for r in await pool.fetch("SELECT id FROM outbox ORDER BY id")]
    ctx = outbox.Context(pool=pool, config=Config(), handlers={"test.touching": _touching})
    holder = await pool.acquire()
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("SELECT 1 FROM linear_own_changes WHERE identifier = 'thing-1' FOR UPDATE")
        delivering = asyncio.create_task(outbox.deliver_due(ctx))
        async with asyncio.timeout(10):
            while await pool.fetchval("SELECT status FROM outbox WHERE id = $1", ids[0]) != "done":
                await asyncio.sleep(0.02)
        assert not delivering.done()
        await transaction.commit()
        async with asyncio.timeout(10):
            assert await delivering == 2
    finally:
        await pool.release(holder)
    assert [r["status"] for r in await pool.fetch("SELECT status FROM outbox ORDER BY id")] == ["done", "done"]
    assert await pool.fetchval("SELECT count(*) FROM linear_own_changes WHERE operation = 'touched'") == 2


SETTLE_TOUCH = f"""
WITH {outbox.SETTLED}, touched AS (
    UPDATE linear_own_changes SET operation = 'touched', updated_at = updated_at + make_interval(secs => 1 / $5::int)
    WHERE identifier = $4 AND EXISTS (SELECT 1 FROM settled)
)
SELECT id FROM settled
"""


async def test_a_row_settled_in_its_own_statement_writes_only_while_its_claim_holds(
    pool: asyncpg.Pool, counted: tuple[asyncpg.Pool, list[str]]
) -> None:
    """``Done.settle``: the row's done and its write in one statement, no transaction. A row another claim
    took meanwhile is neither done nor written; a write the database refuses leaves its row to be retried."""
    counted_pool, statements = counted

    async def settling(ctx: outbox.Context, payload: dict[str, Any]) -> outbox.Done:
        claim = outbox.current()
        assert claim is not None
        if payload["n"] == 1:
            await pool.execute(TAKE_OVER, claim.id)
        return outbox.Done({"n": payload["n"]}, settle=(SETTLE_TOUCH, (f"thing-{payload['n']}", payload["divisor"])))

    async with pool.acquire() as conn:
        for n, divisor in enumerate([1, 1, 0]):
            await conn.execute(
                "INSERT INTO linear_own_changes (identifier, updated_at, operation) VALUES ($1, now(), 'x')",
                f"thing-{n}",
            )
            await outbox.enqueue(conn, "test.settling", {"n": n, "divisor": divisor})
    ctx = outbox.Context(pool=counted_pool, config=Config(), handlers={"test.settling": settling})

    assert await outbox.deliver_due(ctx) == 3

    rows = await pool.fetch(
        "SELECT o.status, o.result, o.last_error, c.operation FROM outbox o"
        " JOIN linear_own_changes c ON c.identifier = 'thing-' || (o.payload ->> 'n') ORDER BY o.id"
    )
    assert [(r["status"], r["operation"]) for r in rows] == [("done", "touched"), ("pending", "x"), ("pending", "x")]
    assert rows[0]["result"] == {"n": 0} and rows[1]["last_error"] is None
    assert "division by zero" in rows[2]["last_error"]
    assert [s for s in statements if "settled AS" in s] == [" ".join(SETTLE_TOUCH.split())] * 3
    assert not [s for s in statements if s.startswith(("BEGIN", "COMMIT"))], statements
