"""A database restart under a running app: 503 with a JSON error while it is down, healthy after."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from app import build_app
from db import embedded
from handlers.keys import POOL
from tests.conftest import make_config


async def test_readyz_follows_a_database_restart(tmp_path: Path) -> None:
    server = await asyncio.to_thread(embedded.start, tmp_path)
    client: TestClient[Any, Any] = TestClient(TestServer(build_app(make_config(server.get_uri()))))
    await client.start_server()
    try:
        assert (await client.get("/readyz")).status == 200
        await asyncio.to_thread(server.cleanup)

        async with asyncio.timeout(10):  # /readyz answers from memory; its database check runs every second
            while (await (down := await client.get("/readyz")).json()).get("error") != "database unreachable":
                await asyncio.sleep(0.05)
        assert down.status == 503

        server = await asyncio.to_thread(embedded.start, tmp_path)
        statuses = []
        # A pooled connection that died with the old server is replaced, not kept; the LISTEN hub
        # reconnects with backoff (at most 5 s apart), and /readyz is 503 until it listens again.
        async with asyncio.timeout(20):
            while not statuses or statuses[-1] != 200:
                statuses.append((await client.get("/readyz")).status)
                await asyncio.sleep(0.1)
    finally:
        await client.close()
        await asyncio.to_thread(server.cleanup)


async def test_pool_errors_from_a_lost_connection_are_503(tmp_path: Path) -> None:
    """What a handler sees when its connection dies mid-flight is answered 503, not 500."""
    server = await asyncio.to_thread(embedded.start, tmp_path)
    app = build_app(make_config(server.get_uri()))

    async def query(request: web.Request) -> web.Response:
        return web.json_response({"n": await request.app[POOL].fetchval("SELECT 1")})

    app.router.add_get("/_query", query)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        assert (await client.get("/_query")).status == 200
        await asyncio.to_thread(server.cleanup)
        response = await client.get("/_query")
        assert response.status == 503 and "database" in (await response.json())["error"]
    finally:
        await client.close()
