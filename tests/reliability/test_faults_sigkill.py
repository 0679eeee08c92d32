"""Fault (b): SIGKILL under a steady stream of signed Sentry deliveries, then a restart. Every delivery
2xx'd is processed exactly once (one incident, one outbound row per Sentry issue); a sender retrying what
got no answer never makes a second one."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import aiohttp
import asyncpg

from tests.reliability.conftest import AppProcess, wait_for
from tests.reliability.deliveries import LEFT_RECEIVED, SENTRY_SECRET, Ledger, delivery, per_issue, send


async def test_sigkill_under_a_steady_stream_of_deliveries(own_database: str, start_app: Any) -> None:
    env = {"DATABASE_URL": own_database, "SENTRY_CLIENT_SECRET": SENTRY_SECRET}
    target: dict[str, AppProcess] = {"app": start_app(**env)}
    await target["app"].ready()
    ledger = Ledger()
    numbers = itertools.count(1)

    async def sender(http: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        while not stop.is_set():
            d = delivery(f"8{next(numbers):06d}")
            ledger.record(d, await send(http, target["app"].url, d))
            await asyncio.sleep(0.01)

    conn = await asyncpg.connect(own_database)
    async with aiohttp.ClientSession() as http:
        stop = asyncio.Event()
        senders = [asyncio.create_task(sender(http, stop)) for _ in range(4)]
        await wait_for(lambda: len(ledger.acked()) >= 40, 30)
        await target["app"].kill()
        killed_at = len(ledger.acked())
        left_received = await conn.fetchval(LEFT_RECEIVED)

        restarted = time.monotonic()
        target["app"] = start_app(**env)
        await target["app"].ready()
        recovery_s = time.monotonic() - restarted
        await wait_for(lambda: len(ledger.acked()) >= killed_at + 40, 30)
        stop.set()
        await asyncio.gather(*senders)
        for d in ledger.unacked():  # the sender retries what got no answer, with the same Request-ID
            ledger.record(d, await send(http, target["app"].url, d))

    try:
        acked = ledger.acked()
        made = await wait_for(lambda: _all_made(conn, acked), 60)  # the inbox workers drain the backlog
        unprocessed = await conn.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE status NOT IN ('processed', 'ignored')"
        )
        rows = await conn.fetchval("SELECT count(*) FROM webhook_deliveries")
    finally:
        await conn.close()
    lost = [k for k in acked if k not in made]
    doubled = [k for k, (incidents, outbound) in made.items() if incidents != 1 or outbound != 1]
    assert acked == set(ledger.answers), "every delivery is 2xx'd in the end"
    assert not lost and not doubled and unprocessed == 0 and rows == len(acked), (lost, doubled, unprocessed)
    assert 500 not in ledger.statuses()
    print(
        f"\nFAULT sigkill: deliveries {len(acked)} (answers {ledger.statuses()}; None = no answer, the process"
        f" was killed), left 'received' by the kill {left_received}; lost {len(lost)} doubled {len(doubled)};"
        f" restart to /readyz 200: {recovery_s:.2f} s"
    )


async def _all_made(conn: asyncpg.Connection, acked: set[str]) -> dict[str, tuple[int, int]] | None:
    made = await per_issue(conn)
    return made if acked <= made.keys() else None
