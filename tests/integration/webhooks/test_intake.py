"""Deliveries stored in groups (jobs/intake.py, issue 13): what arrives while a group's INSERT is in flight
goes in one statement and one commit, and each request still gets its own answer: its row's id, None for a
duplicate, or its own error. The first store is held in flight by a table lock another connection takes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from db.connect import AcquireTimeout
from jobs.intake import Delivery, Intake


def delivery(n: int | str, **changes: Any) -> Delivery:
    base: dict[str, Any] = {
        "source": "github",
        "delivery_id": f"d-{n}",
        "event_type": "workflow_run",
        "action": "completed",
        "headers": {"x-github-event": "workflow_run"},
        "body": f'{{"n": "{n}"}}'.encode(),
        "order_key": f"ci:{n}",
        "handled": True,
    }
    return Delivery(**{**base, **changes})


@pytest.fixture
async def held(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection holding a lock every INSERT into webhook_deliveries waits for, until it commits."""
    conn = await pool.acquire()
    await conn.execute("BEGIN; LOCK TABLE webhook_deliveries IN SHARE MODE")
    yield conn
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")
    await pool.release(conn)


async def in_flight(pool: asyncpg.Pool, n: int = 1) -> None:
    """Until ``n`` sessions wait for the table lock (the group's INSERT has reached PostgreSQL)."""
    for _ in range(500):
        waiting = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO webhook_deliveries%'"
        )
        if waiting >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the store never reached PostgreSQL")


async def test_stores_arriving_while_one_is_in_flight_share_one_statement(
    pool: asyncpg.Pool, counted: tuple[asyncpg.Pool, list[str]], held: asyncpg.Connection
) -> None:
    counted_pool, statements = counted
    intake = Intake()
    first = asyncio.create_task(intake.store(counted_pool, delivery(0)))
    await in_flight(pool)
    rest = [asyncio.create_task(intake.store(counted_pool, delivery(n))) for n in range(1, 21)]
    await asyncio.sleep(0.05)
    assert not any(t.done() for t in [first, *rest]), "nothing is answered before its commit"
    await held.execute("COMMIT")
    ids = await asyncio.gather(first, *rest)
    inserts = [s for s in statements if s.startswith("INSERT INTO webhook_deliveries")]
    assert len(inserts) == 2, "the 20 that arrived during the first store went in one statement"
    stored = dict(await pool.fetch("SELECT delivery_id, id FROM webhook_deliveries"))
    assert ids == [stored[f"d-{n}"] for n in range(21)], "each request gets its own row's id"
    rows = await pool.fetch("SELECT status, order_key, headers, body FROM webhook_deliveries WHERE delivery_id = 'd-7'")
    assert [tuple(r) for r in rows] == [("received", "ci:7", {"x-github-event": "workflow_run"}, b'{"n": "7"}')]


async def test_duplicates_in_a_group_and_before_it_are_answered_none(
    pool: asyncpg.Pool, held: asyncpg.Connection
) -> None:
    intake = Intake()
    await held.execute("ROLLBACK")
    assert await intake.store(pool, delivery("old")) is not None
    await held.execute("BEGIN; LOCK TABLE webhook_deliveries IN SHARE MODE")
    first = asyncio.create_task(intake.store(pool, delivery(0)))
    await in_flight(pool)
    group = [
        asyncio.create_task(intake.store(pool, d))
        for d in (
            delivery(1),
            delivery(1, body=b'{"again": 1}'),  # the same delivery id twice in one group
            delivery("old"),  # stored before
            delivery(2, body=b'{"n": "old"}'),  # the stored body under a new id: a replay
            delivery(3, handled=False),
        )
    ]
    await held.execute("COMMIT")
    answers = await asyncio.gather(first, *group)
    assert answers[0] is not None and answers[1] is not None
    assert answers[2:5] == [None, None, None]
    assert answers[5] is not None
    statuses = dict(await pool.fetch("SELECT delivery_id, status FROM webhook_deliveries"))
    assert statuses == {"d-old": "received", "d-0": "received", "d-1": "received", "d-3": "ignored"}
    assert await pool.fetchval("SELECT body FROM webhook_deliveries WHERE delivery_id = 'd-1'") == b'{"n": "1"}'


async def test_a_refused_value_fails_its_own_request_and_the_group_is_stored(
    pool: asyncpg.Pool, held: asyncpg.Connection
) -> None:
    intake = Intake()
    first = asyncio.create_task(intake.store(pool, delivery(0)))
    await in_flight(pool)
    group = [
        asyncio.create_task(intake.store(pool, d))
        for d in (delivery(1), delivery(2, event_type="work\x00flow"), delivery(3, delivery_id="d-\udcff"), delivery(4))
    ]
    await held.execute("COMMIT")
    answers = await asyncio.gather(first, *group, return_exceptions=True)
    assert isinstance(answers[2], asyncpg.CharacterNotInRepertoireError | asyncpg.UntranslatableCharacterError)
    assert isinstance(answers[3], asyncpg.DataError), "a text PostgreSQL cannot take (a lone surrogate)"
    assert all(isinstance(a, int) for a in (answers[0], answers[1], answers[4]))
    assert sorted(await pool.fetchval("SELECT array_agg(delivery_id) FROM webhook_deliveries")) == ["d-0", "d-1", "d-4"]


class Counting:
    """The pool, with its statements counted (the intake calls ``fetch`` for a group, ``fetchval`` for one)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool, self.calls = pool, 0

    async def fetch(self, *args: Any) -> Any:
        self.calls += 1
        return await self.pool.fetch(*args)

    async def fetchval(self, *args: Any) -> Any:
        self.calls += 1
        return await self.pool.fetchval(*args)


async def test_a_saturated_database_fails_the_group_at_once_not_row_by_row(pool: asyncpg.Pool) -> None:
    """Every pooled connection busy: a group's acquire times out and every request in it gets that error
    (answered 503 ``pool_exhausted``), without a retry per row that would wait the bound again for each."""
    intake, counting = Intake(), Counting(pool)
    taken = [await pool.acquire() for _ in range(pool.get_max_size())]
    pool.acquire_timeout_s = 0.2
    try:
        stores = [asyncio.create_task(intake.store(counting, delivery(n))) for n in range(5)]  # type: ignore[arg-type]
        answers = await asyncio.gather(*stores, return_exceptions=True)
    finally:
        pool.acquire_timeout_s = 5.0
        for conn in taken:
            await pool.release(conn)
    assert all(isinstance(a, AcquireTimeout) for a in answers), answers
    assert counting.calls == 1, "the five, asked at once, are one group: one acquire, and no retry per row"


async def test_deliveries_behind_a_stuck_group_are_refused_at_the_pool_bound(
    pool: asyncpg.Pool, held: asyncpg.Connection
) -> None:
    """A group stuck in PostgreSQL (a locked table) keeps its own requests waiting for its answer; those
    queued behind it get the pool's acquire error at its bound (503, retry later), not an endless wait."""
    intake = Intake()
    pool.acquire_timeout_s = 0.3
    try:
        stuck = asyncio.create_task(intake.store(pool, delivery(0)))
        await in_flight(pool)
        async with asyncio.timeout(5):
            behind = await asyncio.gather(*(intake.store(pool, delivery(n)) for n in (1, 2)), return_exceptions=True)
        assert all(isinstance(b, AcquireTimeout) for b in behind), behind
        assert not stuck.done()
        await held.execute("COMMIT")
        assert isinstance(await stuck, int)
        assert isinstance(await intake.store(pool, delivery(1)), int), "the refused one, sent again, is stored"
    finally:
        pool.acquire_timeout_s = 5.0
