"""asyncpg connections and pools with the codecs the whole service relies on."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from config import Config
from db import embedded, migrate


async def init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, **kwargs: Any) -> asyncpg.Pool:
    kwargs.setdefault("min_size", 1)
    kwargs.setdefault("max_size", 10)
    kwargs.setdefault("command_timeout", 30)
    pool = await asyncpg.create_pool(dsn, init=init_connection, **kwargs)
    assert pool is not None
    return pool


@asynccontextmanager
async def command_pool(config: Config) -> AsyncIterator[asyncpg.Pool]:
    """A small pool for a one-shot command (``python app.py replay`` ...), on a migrated database."""
    async with embedded.database_url(config) as dsn:
        pool = await create_pool(dsn, min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                await migrate.migrate(conn)
            yield pool
        finally:
            await pool.close()


async def as_owner(conn: asyncpg.Connection) -> None:
    """Run the rest of this transaction as the service's own (owner) role.

    For the service's own writes (outbox rows, bus events) that follow a caller's RLS-checked statement in
    the same transaction: the API roles have no grants on internal tables, and need none.
    """
    await conn.execute("SET LOCAL ROLE NONE")
