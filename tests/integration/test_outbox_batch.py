"""Settling a batch of outbox rows (issue 13): the successes are marked done together, in one statement,
and still only while each row's own claim holds it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from config import Config
from db import connect
from jobs import outbox

TAKE_OVER = "UPDATE outbox SET lease = gen_random_uuid(), locked_until = now() + interval '1 minute' WHERE id = $1"


@pytest.fixture
async def counted(pool: asyncpg.Pool, database_url: str) -> AsyncIterator[tuple[asyncpg.Pool, list[str]]]:
    """A one-connection pool on the cleaned database whose statements are recorded."""
    statements: list[str] = []
    counted_pool = await connect.create_pool(database_url, min_size=1, max_size=1)
    async with counted_pool.acquire() as conn:
        conn.add_query_logger(lambda q: statements.append(" ".join(q.query.split())))
    try:
        yield counted_pool, statements
    finally:
        await counted_pool.close()


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
    done = [s for s in statements if s.startswith("UPDATE outbox") and "status = 'done'" in s]
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
