"""Shared steps for the coding request tests: file a request, read the bus and the outbox."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from domain.bus import events as bus
from domain.coding_requests import store as coding_requests
from domain.coding_requests.rules import CodingRequest, NewRequest


async def file_request(pool: asyncpg.Pool, **overrides: Any) -> CodingRequest:
    fields: dict[str, Any] = {
        "source": "slack",
        "source_id": "command:trigger-1",
        "title": "Add dark mode",
        "requested_by_id": "U2CERLKJA",
    }
    fields.update(overrides)
    async with pool.acquire() as conn, conn.transaction():
        req, _ = await coding_requests.create(conn, NewRequest(**fields))
    return req


async def events(pool: asyncpg.Pool, event_type: str) -> list[bus.Event]:
    return await bus.read_after(pool, 0, event_type=event_type)


async def outbox_rows(pool: asyncpg.Pool, kind: str) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT payload, status, dedupe_key FROM outbox WHERE kind = $1 ORDER BY id", kind)
    return [dict(r) for r in rows]


async def wait_for_events(pool: asyncpg.Pool, event_type: str, count: int = 1, within_s: float = 5) -> list[bus.Event]:
    """Wait (woken by the bus's NOTIFY, with a deadline) until ``count`` events of ``event_type`` committed."""
    woke = asyncio.Event()

    def wake(*_: object) -> None:
        woke.set()

    conn = await pool.acquire()
    await conn.add_listener("agent_events", wake)
    try:
        async with asyncio.timeout(within_s):
            while True:
                woke.clear()
                found = await events(pool, event_type)
                if len(found) >= count:
                    return found
                await woke.wait()
    finally:
        await conn.remove_listener("agent_events", wake)
        await pool.release(conn)


async def bolt_listeners_done(within_s: float = 5) -> None:
    """Wait for the listener tasks Bolt runs after acking (its HTTP answer returns as soon as ack() is called)."""
    running = [
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task() and "run_ack_function_asynchronously" in t.get_coro().__qualname__
    ]
    if running:
        async with asyncio.timeout(within_s):
            await asyncio.gather(*running, return_exceptions=True)
