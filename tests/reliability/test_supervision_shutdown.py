"""Defect 2 (rest): SIGTERM with a ``?wait=60`` long-poll and a stream in flight ends promptly: the hub is
closed on shutdown, which answers the waiter and ends the stream, instead of holding the exit 60 s."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.conftest import bearer
from tests.reliability.conftest import AppProcess

SERVICE = bearer("service_role", expires_in=3600)


async def test_sigterm_with_a_long_poll_in_flight_ends_promptly(own_database: str, start_app: Any) -> None:
    app: AppProcess = start_app(DATABASE_URL=own_database)
    await app.ready()
    async with aiohttp.ClientSession() as http:
        body = {"agent_name": "a", "action_type": "t", "action_details": {}, "risk_level": "low"}
        async with http.post(f"{app.url}/api/v1/approvals", json=body, headers=SERVICE) as r:
            approval = (await r.json())["id"]

        async def long_poll() -> int:
            async with http.get(f"{app.url}/api/v1/approvals/{approval}?wait=60", headers=SERVICE) as r:
                await r.read()
                return r.status

        waiting = asyncio.create_task(long_poll())
        async with http.get(f"{app.url}/api/v1/events/stream", headers=SERVICE) as stream:
            await stream.content.readline()
            async with http.get(f"{app.url}/healthz") as r:  # a round trip: the long-poll went out first
                assert r.status == 200
            exit_s = await app.stop(deadline_s=30)
            answered = await asyncio.wait_for(waiting, 5)
    assert app.proc is not None and app.proc.returncode == 0
    assert answered == 200 and exit_s < 10, (answered, exit_s)
    print(f"\nSHUTDOWN: SIGTERM with ?wait=60 and a stream in flight: exit after {exit_s:.2f} s, long-poll {answered}")
