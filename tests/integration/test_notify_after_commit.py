"""NOTIFY after the commit (issue 13): PostgreSQL serialises the commits of notifying transactions, so the
hot paths announce their changes after committing (db/listen.py ``Hub.announce``) and their triggers
leave the NOTIFY out (``swarm.notify``, 1070_notify_after_commit.sql)."""

from __future__ import annotations

import asyncio

import asyncpg

from db.listen import AFTER_COMMIT, Hub, running
from jobs import outbox

ENQUEUE = (
    "INSERT INTO outbox (kind, payload, dedupe_key, next_attempt_at) VALUES ($1, '{}', $1, now() + interval '1 day')"
)


async def test_a_quiet_transactions_triggers_send_no_notify(pool: asyncpg.Pool, database_url: str) -> None:
    heard: list[str] = []
    arrived = asyncio.Event()
    listener = await asyncpg.connect(database_url)

    def on(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        heard.append(payload)
        arrived.set()

    await listener.add_listener(outbox.CHANNEL, on)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SELECT {AFTER_COMMIT}")
            await conn.execute(ENQUEUE, "quiet.kind")
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(ENQUEUE, "loud.kind")
        async with asyncio.timeout(10):
            await arrived.wait()  # notifications arrive in commit order: the quiet one would be first
        assert heard == ["loud.kind"]
    finally:
        await listener.close()


async def test_announce_wakes_here_at_once_and_other_processes_by_notify(database_url: str) -> None:
    here, there = Hub([outbox.CHANNEL]), Hub([outbox.CHANNEL])
    async with running(here, database_url), running(there, database_url):
        async with asyncio.timeout(10):
            await here.listening.wait()
            await there.listening.wait()
        mine, theirs = here.subscribe(outbox.CHANNEL, "k"), there.subscribe(outbox.CHANNEL, "k")
        marker = here.subscribe(outbox.CHANNEL, "marker")
        here.announce(outbox.CHANNEL, "k")
        assert mine.is_set(), "this process's subscribers are woken without a round trip"
        mine.clear()
        async with asyncio.timeout(10):
            await theirs.wait()
        other = await asyncpg.connect(database_url)
        try:
            await other.execute("SELECT pg_notify($1, 'marker')", outbox.CHANNEL)
        finally:
            await other.close()
        async with asyncio.timeout(10):
            await marker.wait()  # delivered after the echo of here's own NOTIFY (commit order)
        assert not mine.is_set(), "the hub's own NOTIFY does not wake its subscribers twice"
