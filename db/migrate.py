"""Forward-only SQL migrations from db/migrations/, applied once each under an advisory lock."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import asyncpg

import logs
from db import locks

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any fixed 64-bit number; every replica uses the same one, so only one migrates at a time.

# 0619_internal_tables_private.sql: revoke what default privileges grant on every internal relation.
HAS_PRIVACY = "SELECT to_regprocedure('public.swarm_make_internal_private()') IS NOT NULL"
MAKE_PRIVATE = "SELECT public.swarm_make_internal_private()"
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""
APPLIED = "SELECT version, checksum FROM schema_migrations ORDER BY version"
RECORD = "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)"
HAS_PGVECTOR = "SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'vector')"
TRY_LOCK = "SELECT pg_try_advisory_lock($1)"
LOCK = "SELECT pg_advisory_lock($1)"
UNLOCK = "SELECT pg_advisory_unlock($1)"
# A migration (or the wait for another replica's) may take as long as it takes: no server-side limits
# either (Supabase sets a statement_timeout per role).
NO_TIMEOUTS = "SET statement_timeout = 0; SET lock_timeout = 0; SET idle_in_transaction_session_timeout = 0"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path
    sql: str
    checksum: str


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        data = path.read_bytes()
        found.append(Migration(path.stem, path, data.decode(), hashlib.sha256(data).hexdigest()))
    return found


async def pending(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Versions not yet applied (all of them when the bookkeeping table is missing)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    applied = {r["version"] for r in await conn.fetch(APPLIED)} if exists else set()
    return [m.version for m in discover(directory) if m.version not in applied]


async def migrate(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations, each in its own transaction. Returns the versions applied.

    Refuses (MigrationError) when an applied file was edited since, or pgvector is missing.
    """
    if not await conn.fetchval(HAS_PGVECTOR):
        raise MigrationError(
            "the PostgreSQL server has no pgvector extension ('vector'): install pgvector on it, "
            "or unset DATABASE_URL to use the embedded server, which ships it"
        )
    if not await conn.fetchval(TRY_LOCK, locks.MIGRATIONS):
        logs.event("db.migration.waiting", reason="another process holds the migration lock")
        await conn.execute(LOCK, locks.MIGRATIONS)
        logs.event("db.migration.lock_acquired")
    try:
        await conn.execute(CREATE_TABLE)
        applied = {r["version"]: r["checksum"] for r in await conn.fetch(APPLIED)}
        done = []
        for m in discover(directory):
            if m.version in applied:
                if applied[m.version] != m.checksum:
                    raise MigrationError(
                        f"migration {m.path.name} was edited after it was applied "
                        f"(checksum {m.checksum[:12]} != applied {applied[m.version][:12]}); "
                        "migrations are forward-only: restore the file and add a new one"
                    )
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(RECORD, m.version, m.checksum)
            logs.event("db.migration.applied", version=m.version)
            done.append(m.version)
        if done and await conn.fetchval(HAS_PRIVACY):
            await conn.execute(MAKE_PRIVATE)  # what the migrations just added is internal unless seeded
        return done
    finally:
        await conn.execute(UNLOCK, locks.MIGRATIONS)


async def migrate_dsn(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Migrate on a connection of its own, with no command timeout (never the app pool's): a replica
    that waits on another's migration lock, or a slow migration on a big adopted database, just waits."""
    conn: asyncpg.Connection = await asyncpg.connect(dsn, command_timeout=None)
    try:
        await conn.execute(NO_TIMEOUTS)
        return await migrate(conn, directory)
    finally:
        await conn.close()
