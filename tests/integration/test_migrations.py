"""The migration runner: idempotent, refuses edited files, safe with concurrent replicas."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from db import migrate
from tests.conftest import create_database, drop_database


@pytest.fixture
async def fresh_url(server_url: str) -> AsyncIterator[str]:
    url = await create_database(server_url, "mig")
    yield url
    await drop_database(server_url, url)


async def test_applies_everything_once_then_nothing(fresh_url: str) -> None:
    conn = await asyncpg.connect(fresh_url)
    try:
        assert await migrate.pending(conn) == [m.version for m in migrate.discover()]
        first = await migrate.migrate(conn)
        assert first == [m.version for m in migrate.discover()]
        assert await migrate.migrate(conn) == []
        assert await migrate.pending(conn) == []
    finally:
        await conn.close()


async def test_refuses_an_edited_applied_file(fresh_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, directory)
    conn = await asyncpg.connect(fresh_url)
    try:
        await migrate.migrate(conn, directory)
        edited = sorted(directory.glob("*.sql"))[2]
        edited.write_text(edited.read_text() + "\n-- an innocent-looking edit\n")
        with pytest.raises(migrate.MigrationError, match=edited.name):
            await migrate.migrate(conn, directory)
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_behind(fresh_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, directory)
    (directory / "9999_broken.sql").write_text("CREATE TABLE half_done (id int); SELECT 1/0;")
    conn = await asyncpg.connect(fresh_url)
    try:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await migrate.migrate(conn, directory)
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        assert await migrate.pending(conn, directory) == ["9999_broken"]
    finally:
        await conn.close()


async def test_concurrent_runners_migrate_once(fresh_url: str) -> None:
    conns = [await asyncpg.connect(fresh_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate.migrate(c) for c in conns))
        applied = [v for r in results for v in r]
        assert sorted(applied) == [m.version for m in migrate.discover()]
        counts = await conns[0].fetch("SELECT version, count(*) FROM schema_migrations GROUP BY version")
        assert all(r["count"] == 1 for r in counts)
    finally:
        for c in conns:
            await c.close()


NON_UNIQUE = """
CREATE INDEX coding_requests_source_idx ON public.coding_requests (source, source_id);
CREATE INDEX idx_automation_analytics_unique_period ON public.automation_analytics (period_start, period_days);
"""
UNIQUE_BY_NAME = "SELECT indisunique FROM pg_index WHERE indexrelid = to_regclass($1)"


async def seed_with_non_unique_indexes(url: str, tmp_path: Path, rows: str = "") -> asyncpg.Connection:
    """A database holding the seed's tables, with a NON-unique index under names the upserts rely on."""
    seed = tmp_path / "seed"
    seed.mkdir()
    for m in migrate.discover()[:2]:  # roles and the seed's tables
        shutil.copy(m.path, seed)
    conn = await asyncpg.connect(url)
    await migrate.migrate(conn, seed)
    await conn.execute(NON_UNIQUE + rows)
    return conn


async def test_a_non_unique_index_under_an_upsert_name_is_rebuilt_unique(fresh_url: str, tmp_path: Path) -> None:
    conn = await seed_with_non_unique_indexes(fresh_url, tmp_path)
    try:
        await migrate.migrate(conn)
        for name in ("coding_requests_source_idx", "idx_automation_analytics_unique_period"):
            assert await conn.fetchval(UNIQUE_BY_NAME, name) is True, name
        upsert = (
            "INSERT INTO coding_requests (source, source_id, title, requested_by_id) VALUES ('slack', 'x', 't', 'U1')"
            " ON CONFLICT (source, source_id) DO NOTHING"
        )
        await conn.execute(upsert)
        await conn.execute(upsert)
        assert await conn.fetchval("SELECT count(*) FROM coding_requests") == 1
    finally:
        await conn.close()


async def test_a_non_unique_index_over_duplicate_rows_is_refused_at_migration(fresh_url: str, tmp_path: Path) -> None:
    duplicates = """
    INSERT INTO automation_analytics (period_start, period_days) VALUES ('2026-11-16', 7), ('2026-11-16', 7);
    """
    conn = await seed_with_non_unique_indexes(fresh_url, tmp_path, duplicates)
    try:
        with pytest.raises(
            asyncpg.RaiseError, match=r"idx_automation_analytics_unique_period .* must be unique"
        ) as err:
            await migrate.migrate(conn)
        assert "remove the duplicate rows" in (err.value.hint or "")
    finally:
        await conn.close()
