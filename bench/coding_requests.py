"""Coding requests API cost, as ratios to GET /healthz measured in the same process.

    .venv/bin/python bench/coding_requests.py [--n 300]

Uses DATABASE_URL if set (a scratch database is created and dropped), else an embedded PostgreSQL in a
temporary directory. PATCH moves a request in_review <-> in_progress, so each one is a guarded UPDATE plus
a bus event plus an outbox row for the requester's Slack message.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import jwt
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import build_app
from config import Config
from db import connect, embedded
from domain.coding_requests import store as coding_requests
from domain.coding_requests.rules import Changes, NewRequest, Status

SECRET = "bench-jwt-secret-long-enough-for-hs256-signing"


async def timed(client: TestClient[Any, Any], n: int, method: str, path: str, bodies: list[Any] | None = None) -> float:
    headers = {"Authorization": "Bearer " + jwt.encode({"role": "service_role", "exp": time.time() + 3600}, SECRET)}
    start = time.perf_counter()
    for i in range(n):
        kwargs: dict[str, Any] = {"headers": headers}
        if bodies:
            kwargs["json"] = bodies[i % len(bodies)]
        response = await client.request(method, path, **kwargs)
        assert response.status == 200, (path, response.status, await response.text())
        await response.read()
    return (time.perf_counter() - start) / n


async def run(server_url: str, n: int) -> None:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    try:
        client: TestClient[Any, Any] = TestClient(
            TestServer(build_app(Config(database_url=url, jwt_secret=SECRET, run_jobs=False)))
        )
        await client.start_server()
        pool = await connect.create_pool(url)
        async with pool.acquire() as conn, conn.transaction():
            await coding_requests.create(
                conn, NewRequest(source="slack", source_id="command:bench", title="Bench", requested_by_id="U1")
            )
            for status in (Status.PLANNING, Status.IN_PROGRESS, Status.IN_REVIEW):
                await coding_requests.change(conn, 1, Changes(status=status))
        await timed(client, 50, "GET", "/healthz")  # warm-up
        health = await timed(client, n, "GET", "/healthz")
        get_one = await timed(client, n, "GET", "/api/v1/coding-requests/1")
        listing = await timed(client, n, "GET", "/api/v1/coding-requests?status=in_review")
        moves = [{"status": "in_progress"}, {"status": "in_review"}]
        patch = await timed(client, n, "PATCH", "/api/v1/coding-requests/1", moves)
        print(f"n={n} per request: healthz {health * 1e3:.2f} ms")
        for label, value in (("GET one", get_one), ("GET list", listing), ("PATCH move", patch)):
            print(f"  {label:<11} {value * 1e3:6.2f} ms  = {value / health:5.1f} x healthz")
        await pool.close()
        await client.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    given = os.environ.get("DATABASE_URL", "").strip()
    if given:
        asyncio.run(run(given, args.n))
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = embedded.start(Path(tmp))
        try:
            asyncio.run(run(server.get_uri(), args.n))
        finally:
            server.cleanup()


if __name__ == "__main__":
    main()
