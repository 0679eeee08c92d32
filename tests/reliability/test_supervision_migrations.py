"""Defect 6: migrations at start-up run on a connection of their own with no timeout. A replica that finds
another holding the migration lock logs that it waits, and waits, past any command or statement timeout
(here the database's own statement_timeout of 1 s, as Supabase sets one per role), then starts."""

from __future__ import annotations

import time
from typing import Any

import asyncpg

from db import locks
from tests.reliability.conftest import wait_for

HELD_S = 4.0


async def test_a_replica_waits_on_the_migration_lock(own_database: str, start_app: Any) -> None:
    admin = await asyncpg.connect(own_database)
    try:
        name = await admin.fetchval("SELECT current_database()")
        await admin.execute(f"ALTER DATABASE \"{name}\" SET statement_timeout = '1s'")
        await admin.execute("SELECT pg_advisory_lock($1)", locks.MIGRATIONS)
        app = start_app(DATABASE_URL=own_database)
        await wait_for(lambda: app.events("db.migration.waiting") or app.proc.poll() is not None, 60)
        assert app.events("db.migration.waiting"), app.tail()
        waiting_since = time.monotonic()
        await wait_for(lambda: time.monotonic() - waiting_since > HELD_S or app.proc.poll() is not None, 10)
        assert app.proc.poll() is None, f"the waiting replica died:\n{app.tail()}"
        await admin.execute("SELECT pg_advisory_unlock($1)", locks.MIGRATIONS)
        await app.ready(30)
        assert app.events("db.migration.lock_acquired") and app.events("db.ready")
        assert await admin.fetchval("SELECT count(*) FROM schema_migrations") > 0
        print(f"\nMIGRATION LOCK: held {HELD_S:.0f} s (statement_timeout 1 s); replica waited, then started")
    finally:
        await admin.close()
