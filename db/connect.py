"""asyncpg connections and pools with the codecs the whole service relies on."""

from __future__ import annotations

import asyncio
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


ACQUIRE_TIMEOUT_S = 5.0


class Connection(asyncpg.Connection):  # type: ignore[misc]
    """A pooled connection released without asyncpg's default reset query (``pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL``, a round trip on every release). An open transaction is still rolled
    back (asyncpg always does that). None of the rest is ever left behind on a pooled connection: LISTEN
    runs only on the hub's own connection (db/listen.py), cursors live inside transactions, settings are
    ``SET LOCAL`` / ``set_config(..., true)``, and advisory locks are transaction-scoped
    (``pg_advisory_xact_lock``, the inbox claim's ``pg_try_advisory_xact_lock``) except the scheduler's
    per-tick lock, released in a ``finally`` (jobs/scheduler.py), and the migrations', on a connection of
    their own (db/migrate.py)."""

    def get_reset_query(self) -> str:
        return ""


class AcquireTimeout(TimeoutError):
    """No pooled connection came free in time: the service is saturated (or the database is slow)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"no database connection free within {timeout_s:g} s")
        self.timeout_s = timeout_s


class Pool(asyncpg.Pool):  # type: ignore[misc]
    """asyncpg's pool whose every acquire (``pool.fetch`` and friends too) waits a bounded time, so a
    burst larger than the pool gets a clear error instead of an unbounded queue."""

    acquire_timeout_s = ACQUIRE_TIMEOUT_S

    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109 (asyncpg's signature)
        bound = self.acquire_timeout_s if timeout is None else timeout
        try:
            if timeout is not None:
                return await super()._acquire(timeout)
            # A deadline on this task, not asyncpg's wait_for, which runs every acquire in a task of its own:
            # 14 us more CPU per pool.fetchval (96 against 82 us, 3,000 calls). Released without a reset
            # budget: the reset query is empty, and a ROLLBACK on release has the command timeout.
            async with asyncio.timeout(bound):
                return await super()._acquire(None)
        except TimeoutError as exc:
            raise AcquireTimeout(bound) from exc


async def create_pool(dsn: str, *, acquire_timeout_s: float = ACQUIRE_TIMEOUT_S, **kwargs: Any) -> asyncpg.Pool:
    kwargs.setdefault("min_size", 1)
    kwargs.setdefault("max_size", 16)  # the inbox workers hold up to 6 (jobs/inbox_worker.py)
    kwargs.setdefault("command_timeout", 30)
    kwargs.setdefault("max_queries", 50000)
    kwargs.setdefault("max_inactive_connection_lifetime", 300.0)
    pool = Pool(
        dsn,
        init=init_connection,
        connection_class=Connection,
        record_class=asyncpg.Record,
        loop=None,
        **kwargs,
    )
    pool.acquire_timeout_s = acquire_timeout_s
    await pool
    return pool


@asynccontextmanager
async def command_pool(config: Config) -> AsyncIterator[asyncpg.Pool]:
    """A small pool for a one-shot command (``python app.py replay`` ...), on a migrated database."""
    async with embedded.database_url(config) as dsn:
        await migrate.migrate_dsn(dsn)
        pool = await create_pool(dsn, min_size=1, max_size=2)
        try:
            yield pool
        finally:
            await pool.close()


async def as_owner(conn: asyncpg.Connection) -> None:
    """Run the rest of this transaction as the service's own (owner) role.

    For the service's own writes (outbox rows, bus events) that follow a caller's RLS-checked statement in
    the same transaction: the API roles have no grants on internal tables, and need none.
    """
    await conn.execute("SET LOCAL ROLE NONE")
