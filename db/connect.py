"""asyncpg connections and pools with the codecs the whole service relies on."""

from __future__ import annotations

import json
from typing import Any

import asyncpg


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
