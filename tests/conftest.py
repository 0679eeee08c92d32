"""Shared fixtures: a real PostgreSQL for the session, a clean state per test, the app under test.

The server is ``DATABASE_URL`` when set (a fresh database is created on it for the session and dropped
after), else an embedded pgserver in a temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer

from app import build_app
from config import Config
from db import connect, embedded, migrate

FIXTURES = Path(__file__).parent / "fixtures"
JWT_SECRET = "test-jwt-secret-that-is-long-enough-for-hs256"
KEEP = {"schema_migrations", "agent_swarm_config", "test_seed_config"}


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _prepare(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await migrate.migrate(conn)
        await conn.execute(
            "DROP TABLE IF EXISTS test_seed_config;CREATE TABLE test_seed_config AS SELECT * FROM agent_swarm_config"
        )
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The PostgreSQL server (admin URL) the tests use."""
    given = os.environ.get("DATABASE_URL", "").strip()
    if given:
        yield given
        return
    data_dir = tmp_path_factory.mktemp("pg")
    server = embedded.start(data_dir)
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


async def create_database(server_url: str, prefix: str = "t") -> str:
    name = f"swarm_{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_database(server_url, name)


async def drop_database(server_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A database of its own for this test session, migrated once."""
    url = asyncio.run(create_database(server_url, "test"))
    asyncio.run(_prepare(url))
    try:
        yield url
    finally:
        asyncio.run(drop_database(server_url, url))


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """An owner pool on a clean database: every table emptied, seeded config restored."""
    pool = await connect.create_pool(database_url, min_size=1, max_size=5)
    async with pool.acquire() as conn:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            if r["tablename"] not in KEEP
        ]
        await conn.execute(
            f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE;"
            "DELETE FROM agent_swarm_config;"
            "INSERT INTO agent_swarm_config SELECT * FROM test_seed_config;"
        )
    yield pool
    await pool.close()


def make_config(database_url: str, **overrides: Any) -> Config:
    base: dict[str, Any] = {"database_url": database_url, "run_jobs": False, "jwt_secret": JWT_SECRET}
    base.update(overrides)
    return Config(**base)


@pytest.fixture
async def app_factory(pool: asyncpg.Pool, database_url: str) -> AsyncIterator[Callable[..., Any]]:
    """``await app_factory(**config_overrides)`` -> a started TestClient on the real app (closed after)."""
    clients: list[TestClient[Any, Any]] = []

    async def start(**overrides: Any) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(TestServer(build_app(make_config(database_url, **overrides))))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for c in clients:
        await c.close()


@pytest.fixture
async def client(app_factory: Callable[..., Any]) -> TestClient[Any, Any]:
    started: TestClient[Any, Any] = await app_factory()
    return started


def token(role: str = "service_role", *, expires_in: int = 300, secret: str = JWT_SECRET, **claims: Any) -> str:
    """A Supabase-style HS256 JWT."""
    payload = {"role": role, "sub": f"{role}-tester", "exp": int(time.time()) + expires_in, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def bearer(role: str = "service_role", **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, **kwargs)}"}


@pytest.fixture
async def counted(database_url: str) -> AsyncIterator[tuple[asyncpg.Pool, list[str]]]:
    """A one-connection pool whose statements are recorded (asyncpg's query logger), for statement counts."""
    statements: list[str] = []
    counted_pool = await connect.create_pool(database_url, min_size=1, max_size=1)
    async with counted_pool.acquire() as conn:
        conn.add_query_logger(lambda q: statements.append(" ".join(q.query.split())))
    try:
        yield counted_pool, statements
    finally:
        await counted_pool.close()


# This backend's own reads in the running transaction (no waiting for statistics to be flushed).
ROWS_READ = """
SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0)::bigint FROM pg_stat_xact_user_tables
WHERE relname = ANY($1::text[])
"""


async def rows_read(conn: asyncpg.Connection, *tables: str) -> int:
    """Rows the connection's running transaction has read from ``tables`` so far (scans and index fetches)."""
    return int(await conn.fetchval(ROWS_READ, list(tables)))
