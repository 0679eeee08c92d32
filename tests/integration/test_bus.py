"""The bus's commit-ordered offsets: late commits are never skipped, rollbacks never seen."""

from __future__ import annotations

import asyncio

import asyncpg

from domain.bus import events as bus

WAITING_ON_A_LOCK = (
    "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def test_publish_and_read_in_order(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        for i in range(3):
            await bus.publish(conn, "test.event", {"i": i}, targets=["agent-a"])
        await bus.publish(conn, "test.broadcast", {})
        await bus.publish(conn, "test.other", {}, targets=["agent-b"])
        seen = await bus.read_after(conn, 0, target="agent-a")
    assert [e.event_type for e in seen] == ["test.event"] * 3 + ["test.broadcast"]
    assert [e.payload.get("i") for e in seen[:3]] == [0, 1, 2]
    assert [e.seq for e in seen] == sorted(e.seq for e in seen)


async def test_an_offset_is_given_in_commit_order(pool: asyncpg.Pool) -> None:
    """A transaction that published first but commits last still gets the later offset."""
    slow = await pool.acquire()
    try:
        tx = slow.transaction()
        await tx.start()
        slow_id = await bus.publish(slow, "test.slow", {})
        fast = asyncio.create_task(
            pool.execute(
                "INSERT INTO agent_events (source_agent_id, source_agent_type, event_type)"
                " VALUES ('x', 'y', 'test.fast')"
            )
        )
        async with asyncio.timeout(10):  # the second publisher waits for the first to commit
            while not fast.done() and not await pool.fetchval(WAITING_ON_A_LOCK):
                await asyncio.sleep(0.01)
        assert not fast.done(), "the second publisher waits for the first to commit"
        await tx.commit()
        await fast
    finally:
        await pool.release(slow)
    events = await bus.read_after(pool, 0)
    assert [e.event_type for e in events] == ["test.slow", "test.fast"]
    assert events[0].id == slow_id


async def test_a_rolled_back_publish_is_never_seen(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await bus.publish(conn, "test.rolled_back", {})
        await tx.rollback()
        await bus.publish(conn, "test.kept", {})
        assert [e.event_type for e in await bus.read_after(conn, 0)] == ["test.kept"]


async def test_publish_notifies_listeners_on_commit(pool: asyncpg.Pool) -> None:
    got: asyncio.Queue[str] = asyncio.Queue()
    listener = await pool.acquire()

    def on_notify(*args: object) -> None:
        got.put_nowait(str(args[3]))

    await listener.add_listener("agent_events", on_notify)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await bus.publish(conn, "test.n", {})
            await pool.execute("SELECT pg_notify('agent_events', 'marker')")  # committed: delivered now
            assert await asyncio.wait_for(got.get(), 5) == "marker", "nothing before the commit"
        seq = int(await asyncio.wait_for(got.get(), 5))
        assert [e.seq for e in await bus.read_after(pool, seq - 1)] == [seq]
    finally:
        await listener.remove_listener("agent_events", on_notify)
        await pool.release(listener)
