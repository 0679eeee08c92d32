"""The bus's commit-ordered offsets: publishers never wait on each other, late commits are never skipped,
rollbacks never seen, and a page says how far it scanned."""

from __future__ import annotations

import asyncio
import uuid

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


async def test_a_publish_does_not_wait_behind_an_uncommitted_one_and_a_cursor_never_skips_it(
    pool: asyncpg.Pool,
) -> None:
    """Two transactions commit out of order: the second publisher does not wait for the first (0006's lock
    made it wait until the first committed), and a cursor taken after the second still finds the first."""
    slow = await pool.acquire()
    try:
        tx = slow.transaction()
        await tx.start()
        slow_id = await bus.publish(slow, "test.slow", {})
        async with asyncio.timeout(2):  # under 0006 this waits on the lock for as long as `slow` stays open
            await pool.execute(
                "INSERT INTO agent_events (source_agent_id, source_agent_type, event_type)"
                " VALUES ('x', 'y', 'test.fast')"
            )
        assert not await pool.fetchval(WAITING_ON_A_LOCK)
        first = await bus.read_after(pool, 0)
        assert [e.event_type for e in first] == ["test.fast"], "the uncommitted event is not numbered yet"
        cursor = first[-1].seq
        await tx.commit()
    finally:
        await pool.release(slow)
    late = await bus.read_after(pool, cursor)
    assert [(e.id, e.event_type) for e in late] == [(slow_id, "test.slow")] and late[0].seq > cursor
    assert [e.event_type for e in await bus.read_after(pool, 0)] == ["test.fast", "test.slow"]


async def test_sequencers_in_parallel_never_hand_out_a_seq_below_one_already_visible(pool: asyncpg.Pool) -> None:
    """Many publishers and sequencer runs at once: every seq is unique, and a reader that polls all along
    sees seqs only grow (it never finds a row below its cursor afterwards)."""

    async def publisher(n: int) -> None:
        for i in range(20):
            async with pool.acquire() as conn:
                await bus.publish(conn, "test.many", {"n": n, "i": i})
                await bus.sequence(conn)

    seen: list[int] = []
    done = asyncio.Event()

    async def poller() -> None:
        cursor = 0
        while not done.is_set():
            for event in await bus.read_after(pool, cursor, limit=1000):
                seen.append(event.seq)
                cursor = event.seq

    polling = asyncio.create_task(poller())
    await asyncio.gather(*(publisher(n) for n in range(6)))
    done.set()
    await polling
    everything = [e.seq for e in await bus.read_after(pool, 0, limit=1000)]
    assert len(everything) == 120 == len(set(everything))
    assert seen == sorted(seen) and set(seen) <= set(everything)
    tail = [e.seq for e in await bus.read_after(pool, seen[-1] if seen else 0, limit=1000)]
    assert sorted(set(seen) | set(tail)) == sorted(everything), "the poller skipped nothing"


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
            event_id = await bus.publish(conn, "test.n", {})
            await pool.execute("SELECT pg_notify('agent_events', 'marker')")  # committed: delivered now
            assert await asyncio.wait_for(got.get(), 5) == "marker", "nothing before the commit"
        assert await asyncio.wait_for(got.get(), 5) == ""
        assert [e.id for e in await bus.read_after(pool, 0)] == [event_id]
    finally:
        await listener.remove_listener("agent_events", on_notify)
        await pool.release(listener)


async def test_a_page_scans_a_bounded_window_and_says_how_far(pool: asyncpg.Pool) -> None:
    """A filter that matches nothing still moves the cursor: to the end of the window, or to the tail."""
    async with pool.acquire() as conn:
        for i in range(7):
            await bus.publish(conn, "test.quiet", {"i": i}, targets=["somebody"])
        tail = await bus.sequence(conn)
        where = bus.Filter(target="nobody", event_type="test.quiet")
        assert await bus.page_after(conn, 0, where, window=3) == bus.Page([], 3, tail)
        assert await bus.page_after(conn, 3, where) == bus.Page([], tail, tail)
        full = await bus.page_after(conn, 0, bus.Filter(event_type="test.quiet"), limit=2)
        assert [e.payload["i"] for e in full.events] == [0, 1] and full.next == full.events[-1].seq


async def test_a_page_by_type_or_correlation_is_the_window_scans_page(pool: asyncpg.Pool) -> None:
    """The statement for a type or a correlation id (planned from their own index when rare) answers what
    the window scan answers: the same events, broadcasts included for a target, and the same cursor."""
    a, b = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as conn:
        for i in range(30):
            targets = [] if i % 3 == 0 else [f"agent-{i % 2}"]
            await bus.publish(conn, f"test.t{i % 4}", {"i": i}, targets=targets, correlation_id=(a, b, None)[i % 3])
        tail = await bus.sequence(conn)
        everything = await bus.read_after(conn, 0, limit=1000)
    filters = [
        bus.Filter(event_type="test.t1"),
        bus.Filter(correlation_id=a),
        bus.Filter(target="agent-1", event_type="test.t2"),
        bus.Filter(target="agent-0", correlation_id=b),
        bus.Filter(event_type="test.t3", correlation_id=a),
        bus.Filter(event_type="test.none"),
    ]
    for where in filters:
        for after, window, limit in ((0, 1000, 100), (0, 12, 100), (5, 1000, 2), (tail - 4, 1000, 100)):
            end = min(after + window, tail)
            want = [e for e in everything if after < e.seq <= end and where.matches(e)][:limit]
            cursor = want[-1].seq if len(want) == limit else max(after, end)
            async with pool.acquire() as conn, conn.transaction():
                got = await bus.page_after(conn, after, where, limit=limit, window=window)
            assert got == bus.Page(want, cursor, tail), (where, after, window, limit)
            assert await bus.page_after(pool, after, where, limit=limit, window=window) == got


COMMON = 1050


async def test_a_common_type_or_correlation_pages_as_a_rare_one_does(pool: asyncpg.Pool) -> None:
    """A value of a thousand rows and one of a single row are read through the offsets' copy of the value
    (and the rest of the filter on the event): both give the page the in-memory filter gives."""
    common = uuid.uuid4()
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO agent_events (source_agent_id, source_agent_type, event_type, payload, target_agent_ids,"
            " correlation_id) SELECT 'test', 'worker', 'test.common', jsonb_build_object('i', g),"
            " CASE WHEN g % 3 = 0 THEN '{}'::text[] ELSE ARRAY['agent-' || g % 2] END, $1"
            " FROM generate_series(1, $2::int) g",
            common,
            COMMON,
        )
        await bus.publish(conn, "test.uncommon", {}, correlation_id=common)
        tail = await bus.sequence(conn)
        everything = await bus.read_after(conn, 0, limit=100_000)
    start = tail - COMMON - 1
    filters = [
        bus.Filter(event_type="test.common"),
        bus.Filter(correlation_id=common),
        bus.Filter(target="agent-1", correlation_id=common),
        bus.Filter(event_type="test.uncommon", correlation_id=common),
        bus.Filter(event_type="test.uncommon"),
    ]
    for where in filters:
        for after, window, limit in ((start, 1000, 100), (start + 500, 100, 1000), (tail - 3, 1000, 100)):
            end = min(after + window, tail)
            want = [e for e in everything if after < e.seq <= end and where.matches(e)][:limit]
            cursor = want[-1].seq if len(want) == limit else max(after, end)
            got = await bus.page_after(pool, after, where, limit=limit, window=window)
            assert got == bus.Page(want, cursor, tail), (where, after, window, limit)
