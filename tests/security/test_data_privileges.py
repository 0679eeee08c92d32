"""Defect 3: on Supabase, strangers reach no internal table.

Supabase's schema ``public`` grants ALL on every new table, sequence and function to ``anon``,
``authenticated`` and ``service_role`` (default privileges). This applies those defaults to a fresh
database before migrating it, then proves as each API role that every internal relation refuses SELECT,
INSERT, UPDATE and DELETE, and that the seed tables keep exactly the seed's policies.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from db import migrate
from tests.conftest import FIXTURES, create_database, drop_database

SEED = {t["name"]: t for t in json.loads((FIXTURES / "spec" / "schema.json").read_text())["tables"]}
STRANGERS = ("anon", "authenticated")
SUPABASE_DEFAULTS = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN CREATE ROLE service_role NOLOGIN; END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
"""
INTERNAL = """
SELECT c.relname, c.relkind, c.relrowsecurity,
       (SELECT a.attname FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND a.attidentity = '' AND a.attgenerated = ''
        ORDER BY a.attnum LIMIT 1) AS plain_column
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT (c.relname = ANY($1::text[]))
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY c.relname
"""
POLICIES = "SELECT tablename, policyname, cmd, roles::text[] AS roles FROM pg_policies WHERE schemaname = 'public'"
# The bus's cursor: readable (never writable) by the roles that may read the bus; the incidents' services
# by the role that may read incidents (service_role is not among the strangers).
READABLE_INTERNAL = {("authenticated", "agent_event_offsets")}


@pytest.fixture
async def supabase_like(server_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A fresh database with Supabase's default privileges, then every migration."""
    url = await create_database(server_url, "supa")
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SUPABASE_DEFAULTS)
        await migrate.migrate(conn)
        yield conn
    finally:
        await conn.close()
        await drop_database(server_url, url)


async def _attempt(conn: asyncpg.Connection, role: str, sql: str, privilege: tuple[str, str] | None = None) -> str:
    """Run ``sql`` as ``role`` (with its JWT claim) and roll back: 'refused' or 'allowed'.

    A statement PostgreSQL stops before checking privileges (an INSERT into a view it cannot update)
    counts as refused only when the role also lacks the ``privilege`` (relation, command)."""
    if privilege is not None and await conn.fetchval("SELECT has_table_privilege($1, $2, $3)", role, *privilege):
        return f"allowed (has {privilege[1]})"
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(
            "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
            role,
            json.dumps({"role": role}),
        )
        try:
            await conn.execute(sql)
        except asyncpg.InsufficientPrivilegeError:
            return "refused"
        except asyncpg.PostgresError as exc:
            return "refused" if privilege is not None else f"allowed ({type(exc).__name__})"
        return "allowed"
    finally:
        await tx.rollback()


def _statements(name: str, column: str) -> dict[str, str]:
    return {
        "SELECT": f'SELECT * FROM public."{name}" LIMIT 1',
        "INSERT": f'INSERT INTO public."{name}" DEFAULT VALUES',
        "UPDATE": f'UPDATE public."{name}" SET "{column}" = "{column}"',
        "DELETE": f'DELETE FROM public."{name}"',
    }


async def test_strangers_touch_no_internal_relation(supabase_like: asyncpg.Connection) -> None:
    conn = supabase_like
    internal = await conn.fetch(INTERNAL, sorted(SEED))
    names = {r["relname"] for r in internal}
    assert {
        "outbox",
        "webhook_deliveries",
        "linear_own_changes",
        "agent_metrics_dirty",
        "agent_event_offsets",
        "schema_migrations",
        "github_workflow_runs",
        "github_pull_request_events",
    } <= names
    touched = []
    for rel in internal:
        if rel["relkind"] in ("r", "p"):
            assert rel["relrowsecurity"], f"{rel['relname']} has no row level security"
        for role in STRANGERS:
            for command, sql in _statements(rel["relname"], rel["plain_column"]).items():
                if command == "SELECT" and (role, rel["relname"]) in READABLE_INTERNAL:
                    continue
                answer = await _attempt(conn, role, sql, (f'public."{rel["relname"]}"', command))
                if answer != "refused":
                    touched.append(f"{role} {command} {rel['relname']}: {answer}")
    assert touched == []


async def test_anon_touches_no_seed_table_and_the_seed_keeps_its_policies(supabase_like: asyncpg.Connection) -> None:
    conn = supabase_like
    touched = []
    for name, table in SEED.items():
        for command, sql in _statements(name, table["columns"][-1]["name"]).items():
            answer = await _attempt(conn, "anon", sql, (f"public.{name}", command))
            if answer != "refused":
                touched.append(f"anon {command} {name}: {answer}")
    assert touched == []
    live = {(r["tablename"], r["policyname"], r["cmd"], tuple(sorted(r["roles"]))) for r in await conn.fetch(POLICIES)}
    spec = {(n, p["name"], p["command"], tuple(sorted(p["roles"]))) for n, t in SEED.items() for p in t["policies"]}
    assert {p for p in live if p[0] in SEED} == spec
    assert {p[:2] for p in live if p[0] not in SEED} == {
        ("agent_event_offsets", "Bus readers read offsets"),
        ("incident_services", "Service role reads incident services"),
    }


async def test_the_bus_cursor_is_read_only_for_bus_readers(supabase_like: asyncpg.Connection) -> None:
    conn = supabase_like
    await conn.execute(
        "INSERT INTO agent_events (source_agent_id, source_agent_type, event_type) VALUES ('a', 't', 'e')"
    )
    for role, visible in (("authenticated", 1), ("service_role", 1)):
        async with conn.transaction():
            await conn.execute(
                "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
                role,
                json.dumps({"role": role}),
            )
            assert await conn.fetchval("SELECT count(*) FROM agent_event_offsets") == visible
    async with conn.transaction():  # the service_role database role with another claim sees no event
        await conn.execute(
            "SELECT set_config('role', 'service_role', true), set_config('request.jwt.claims', $1, true)",
            json.dumps({"role": "anon"}),
        )
        assert await conn.fetchval("SELECT count(*) FROM agent_event_offsets") == 0
    for role in ("authenticated", "service_role"):
        for sql in ("DELETE FROM agent_event_offsets", "UPDATE agent_event_offsets SET event_id = event_id"):
            assert await _attempt(conn, role, sql) == "refused", (role, sql)
