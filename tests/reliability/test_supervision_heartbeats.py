"""Defect 10: a stream gets a heartbeat every HEARTBEAT_S whatever wakes it. A bus busier than one event
per heartbeat, none of it for this stream, used to restart the wait on every NOTIFY and starve it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from domain.bus import events as bus
from handlers.api import events
from tests.conftest import bearer

HEARTBEAT_S = 0.5


async def test_heartbeats_keep_their_schedule_on_a_busy_bus(
    client: TestClient[Any, Any], pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "HEARTBEAT_S", HEARTBEAT_S)
    published = 0

    async def busy_bus() -> None:
        nonlocal published
        while True:  # five events per heartbeat, all for another agent
            async with pool.acquire() as conn:
                await bus.publish(conn, "noise", {}, targets=["someone-else"])
            published += 1
            await asyncio.sleep(HEARTBEAT_S / 5)

    async with client.get(
        "/api/v1/events/stream", params={"target": "quiet"}, headers=bearer("service_role")
    ) as response:
        assert (await response.content.readline()).startswith(b"retry:")
        noise = asyncio.create_task(busy_bus())
        beats: list[float] = []
        started = time.monotonic()
        try:
            async with asyncio.timeout(HEARTBEAT_S * 12):
                while len(beats) < 4:
                    line = await response.content.readline()
                    # only the scanned-up-to cursor (an id with no data) may come with a heartbeat
                    assert not line.startswith((b"event:", b"data:")), "nothing of the bus is for this stream"
                    if line.startswith(b": heartbeat"):
                        beats.append(time.monotonic() - started)
        finally:
            noise.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await noise
    gaps = [b - a for a, b in zip([0.0, *beats], beats, strict=False)]
    assert published >= 4 * 4, f"the bus was busy: {published} events"
    assert max(gaps) < HEARTBEAT_S * 3, f"heartbeats at {beats}"
