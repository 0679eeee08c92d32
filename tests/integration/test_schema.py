"""The live schema is exactly the seed's: tables, columns, types, defaults, indexes, RLS and policies."""

from __future__ import annotations

import json

import asyncpg
import pytest

from tests.conftest import FIXTURES

SPEC = json.loads((FIXTURES / "spec" / "schema.json").read_text())["tables"]
TABLES = {t["name"]: t for t in SPEC}

COLUMNS = """
SELECT c.relname AS table_name, a.attname AS name, a.attnotnull AS not_null,
       t.typname AS udt, format_type(a.atttypid, a.atttypmod) AS full_type,
       pg_get_expr(d.adbin, d.adrelid) AS default
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relname = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
POLICIES = "SELECT policyname, cmd, roles::text[] AS roles, qual, with_check FROM pg_policies WHERE tablename = $1"


def spec_type(column: dict[str, str]) -> str:
    return column["type"]


def live_type(row: asyncpg.Record) -> str:
    if row["udt"] == "varchar":
        return row["full_type"].replace("character varying", "varchar")
    return str(row["udt"])


@pytest.mark.parametrize("table", sorted(TABLES))
async def test_columns_match_the_spec(pool: asyncpg.Pool, table: str) -> None:
    rows = await pool.fetch(COLUMNS, table)
    live = {r["name"]: r for r in rows}
    spec = TABLES[table]["columns"]
    assert [c["name"] for c in spec] == [r["name"] for r in rows], "same columns in the same order"
    for column in spec:
        row = live[column["name"]]
        where = f"{table}.{column['name']}"
        assert live_type(row) == spec_type(column), where
        assert row["not_null"] is not column["nullable"], where
        expected, actual = column["default"], row["default"]
        if expected is None:
            assert actual is None, where
        elif expected.endswith("..."):
            assert actual is not None and actual.startswith(expected[:-3]), where
        else:
            assert actual == expected, where
        if column["type"] == "vector":
            assert row["full_type"] == "vector(384)", where


@pytest.mark.parametrize("table", sorted(TABLES))
async def test_indexes_match_the_spec(pool: asyncpg.Pool, table: str) -> None:
    names = await pool.fetch("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1", table)
    live = {r["indexname"]: r["indexdef"] for r in names}
    assert set(TABLES[table]["indexes"]) <= set(live), f"missing: {set(TABLES[table]['indexes']) - set(live)}"
    for name, definition in live.items():
        if name.endswith("_key") or name.endswith("_pkey"):
            assert definition.startswith("CREATE UNIQUE INDEX"), name


async def test_index_kinds_do_real_work(pool: asyncpg.Pool) -> None:
    defs = {r["indexname"]: r["indexdef"] for r in await pool.fetch("SELECT indexname, indexdef FROM pg_indexes")}
    for name in ("infrastructure_incidents_embedding_idx", "runbook_patterns_embedding_idx"):
        assert "USING hnsw" in defs[name] and "vector_cosine_ops" in defs[name]
    for name in ("idx_agent_events_targets", "infrastructure_incidents_services_idx"):
        assert "USING gin" in defs[name]
    assert "UNIQUE" in defs["idx_automation_analytics_unique_period"]


@pytest.mark.parametrize("table", sorted(TABLES))
async def test_rls_and_policies_match_the_spec(pool: asyncpg.Pool, table: str) -> None:
    assert await pool.fetchval("SELECT relrowsecurity FROM pg_class WHERE oid = $1::regclass", table)
    live = {r["policyname"]: r for r in await pool.fetch(POLICIES, table)}
    spec = {p["name"]: p for p in TABLES[table]["policies"]}
    assert set(live) == set(spec)
    for name, policy in spec.items():
        row = live[name]
        assert row["cmd"] == policy["command"], name
        assert sorted(row["roles"]) == sorted(policy["roles"]), name
        for expr in (row["qual"], row["with_check"]):
            if expr is not None:
                assert "auth.role()" in expr and expr.strip("() ") != "true", name


async def test_sequences_back_the_numbers(pool: asyncpg.Pool) -> None:
    for seq, table, column in (
        ("infrastructure_incidents_incident_number_seq", "infrastructure_incidents", "incident_number"),
        ("coding_requests_request_number_seq", "coding_requests", "request_number"),
    ):
        owned = await pool.fetchval("SELECT pg_get_serial_sequence($1, $2)", table, column)
        assert owned == f"public.{seq}"


async def test_roles_exist(pool: asyncpg.Pool) -> None:
    roles = {r["rolname"] for r in await pool.fetch("SELECT rolname FROM pg_roles")}
    assert {"authenticated", "service_role"} <= roles


async def test_spec_copy_matches_the_text_spec() -> None:
    text = (FIXTURES / "spec" / "agent-system-tables.txt").read_text()
    for table in TABLES:
        assert f"\n{table}\n" in text
