"""The bus and approvals at scale, for bench/data_scale.py: the loaders, the cases and the insert cost check.

Events: ``--events`` rows over ~60 days, numbered by seq in insert order as the sequencer numbers them.
Event types follow a skew (``incident.updated`` 30%, then 39 more from 16% down to 0.7%; ``type.30`` is
0.84%) plus ``few.type`` (1 in 10,000) and ``rare.type`` (1 in 100,000); 30% are broadcasts (no target),
the rest go to one of 200 agents, five of them hot (40% of the targeted ones), plus ``agent-rare`` (1 in
200,000); 60% carry a correlation id shared by 10 neighbouring events, and one correlation id is hot (1 in
100 events). The events list is timed as
``GET /api/v1/events`` runs it (``bus.page_after`` as the caller): at ``after=0``, far back (a tenth into
the table) and near the head (5,000 before it).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import asyncpg

from domain.approvals import store as approvals
from domain.bus import events as bus

HOT_CORRELATION = uuid.UUID("00000000-0000-4000-8000-00000000c0de")
TYPES = ["incident.updated"] + [f"type.{i:02d}" for i in range(39)]
# One chunk of events and their offsets; the ids are drawn once (src is materialized) so both tables agree.
LOAD_EVENTS = """
WITH src AS MATERIALIZED (
    SELECT g, gen_random_uuid() AS id, hashint8extended(g, 0) & 9223372036854775807 AS h
    FROM generate_series($2::bigint, $3::bigint) g
), e AS (
    INSERT INTO agent_events (id, source_agent_id, source_agent_type, event_type, payload, target_agent_ids,
                              correlation_id, created_at)
    SELECT id, 'agent-' || (h % 50), 'worker',
           CASE WHEN g % 100000 = 3 THEN 'rare.type' WHEN g % 10000 = 17 THEN 'few.type'
                WHEN h % 100 < 30 THEN 'incident.updated'
                ELSE ($5::text[])[2 + floor(39 * power((h / 100 % 1000) / 1000.0, 2.5))::int] END,
           jsonb_build_object('n', g),
           CASE WHEN g % 200000 = 11 THEN ARRAY['agent-rare']
                WHEN (h >> 8) % 100 < 30 THEN '{}'::text[]
                WHEN (h >> 8) % 100 < 58 THEN ARRAY['agent-hot-' || ((h >> 16) % 5)]
                ELSE ARRAY['agent-' || ((h >> 16) % 195)] END,
           CASE WHEN g % 100 = 1 THEN $6::uuid
                WHEN (h >> 24) % 100 < 60 THEN md5('corr-' || (g / 10))::uuid END,
           $1::timestamptz - make_interval(secs => ($4 - g) * 0.5)
    FROM src
    RETURNING id, event_type, correlation_id
)
INSERT INTO agent_event_offsets (event_id, seq, event_type, correlation_id)
SELECT src.id, src.g, e.event_type, e.correlation_id FROM src JOIN e USING (id)
"""
LOAD_APPROVALS = """
INSERT INTO approval_requests (agent_name, action_type, action_details, risk_level, status, resolved_by,
                               resolved_at, expires_at, created_at, updated_at)
SELECT 'agent-' || (g % 100), 'restart_service', jsonb_build_object('n', g),
       (ARRAY['low', 'medium', 'high', 'critical'])[1 + g % 4],
       CASE WHEN g % 100 = 0 THEN 'pending' WHEN g % 10 < 7 THEN 'approved' WHEN g % 10 < 9 THEN 'rejected'
            ELSE 'expired' END,
       CASE WHEN g % 100 <> 0 THEN 'U' || (g % 40) END,
       CASE WHEN g % 100 <> 0 THEN $1::timestamptz - make_interval(secs => g * 60 - 300) END,
       $1::timestamptz - make_interval(secs => g * 60) + CASE WHEN g % 200 = 0 THEN interval '2 years'
                                                              ELSE interval '1 day' END,
       $1::timestamptz - make_interval(secs => g * 60), $1::timestamptz - make_interval(secs => g * 60)
FROM generate_series(1, $2::int) g
"""
# Secondary indexes and keys of the bus's tables, dropped for the bulk load and built again after it.
STRUCTURE = """
SELECT c.conrelid::regclass::text AS tbl, c.conname AS name, pg_get_constraintdef(c.oid) AS def,
       c.contype::text AS contype
FROM pg_constraint c
WHERE c.conrelid IN ('agent_events'::regclass, 'agent_event_offsets'::regclass) AND c.contype IN ('p', 'u', 'f')
"""
INDEXES = """
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
FROM pg_index i
WHERE i.indrelid IN ('agent_events'::regclass, 'agent_event_offsets'::regclass)
  AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""
CHUNK = 1_000_000


async def load_events(conn: asyncpg.Connection, n: int, now: Any) -> float:
    """``n`` events with their offsets (seq 1..n), unless exactly those are there; seconds taken."""
    if await conn.fetchval("SELECT count(*) FROM agent_event_offsets WHERE seq IS NOT NULL") == n and n == (
        await conn.fetchval("SELECT coalesce(max(seq), 0) FROM agent_event_offsets")
    ):
        return 0.0
    started = time.perf_counter()
    await conn.execute("TRUNCATE agent_events, agent_event_offsets")
    keys = await conn.fetch(STRUCTURE)
    indexes = await conn.fetch(INDEXES)
    for k in sorted(keys, key=lambda k: k["contype"] != "f"):  # foreign keys first
        await conn.execute(f'ALTER TABLE {k["tbl"]} DROP CONSTRAINT "{k["name"]}"')
    for i in indexes:
        await conn.execute(f"DROP INDEX {i['name']}")
    await conn.execute("SET maintenance_work_mem = '256MB'")
    await conn.execute("SET session_replication_role = replica")  # the offsets trigger: seq is given here
    for start in range(1, n + 1, CHUNK):
        end = min(start + CHUNK - 1, n)
        await conn.execute(LOAD_EVENTS, now, start, end, n, TYPES, HOT_CORRELATION)
        print(f"  events {end:,} / {n:,} ({time.perf_counter() - started:.0f} s)", flush=True)
    await conn.execute("RESET session_replication_role")
    for k in sorted(keys, key=lambda k: k["contype"] == "f"):  # keys before the foreign keys that need them
        await conn.execute(f'ALTER TABLE {k["tbl"]} ADD CONSTRAINT "{k["name"]}" {k["def"]}')
    for i in indexes:
        await conn.execute(i["def"])
    await conn.execute("VACUUM ANALYZE agent_events")
    await conn.execute("VACUUM ANALYZE agent_event_offsets")
    took = round(time.perf_counter() - started, 1)
    print(f"loaded {n:,} events in {took} s", flush=True)
    return took


async def load_approvals(conn: asyncpg.Connection, n: int, now: Any) -> float:
    if await conn.fetchval("SELECT count(*) FROM approval_requests") == n:
        return 0.0
    started = time.perf_counter()
    await conn.execute("TRUNCATE approval_requests CASCADE")
    await conn.execute(LOAD_APPROVALS, now, n)
    await conn.execute("VACUUM ANALYZE approval_requests")
    took = round(time.perf_counter() - started, 1)
    print(f"loaded {n:,} approvals in {took} s", flush=True)
    return took


class EventCase:
    """``GET /api/v1/events?...&after=`` as the endpoint runs it; ``at`` is a fraction of the table or the head."""

    kind = "events"

    def __init__(self, name: str, where: bus.Filter) -> None:
        self.name, self.where = name, where

    def statement(self, after: int) -> tuple[str, list[Any]]:
        w = self.where
        sql = (
            bus.READ_SELECTIVE["correlation_id"]
            if w.correlation_id
            else bus.READ_SELECTIVE["event_type"]
            if w.event_type
            else bus.READ_AFTER
        )
        return sql, [after, w.target, w.event_type, w.correlation_id, 100, after + bus.WINDOW]

    async def call(self, conn: asyncpg.Connection, after: int) -> bus.Page:
        return await bus.page_after(conn, after, self.where, limit=100)


EVENT_CASES = [
    EventCase("events", bus.Filter()),
    EventCase("events ?target=agent-hot-1", bus.Filter(target="agent-hot-1")),
    EventCase("events ?target=agent-7", bus.Filter(target="agent-7")),
    EventCase("events ?target=agent-rare", bus.Filter(target="agent-rare")),
    EventCase("events ?event_type=incident.updated (30%)", bus.Filter(event_type="incident.updated")),
    EventCase("events ?event_type=type.30 (0.84%)", bus.Filter(event_type="type.30")),
    EventCase("events ?event_type=few.type (0.01%)", bus.Filter(event_type="few.type")),
    EventCase("events ?event_type=rare.type (0.001%)", bus.Filter(event_type="rare.type")),
    EventCase("events ?correlation_id=<hot, 1%>", bus.Filter(correlation_id=HOT_CORRELATION)),
    EventCase("events ?correlation_id=<10 events>", bus.Filter(correlation_id=uuid.UUID(int=0))),
    EventCase("events ?target=agent-7&event_type=type.30", bus.Filter(target="agent-7", event_type="type.30")),
]


async def event_positions(conn: asyncpg.Connection) -> dict[str, int]:
    tail = int(await conn.fetchval(bus.TAIL))
    return {"first (after=0)": 0, "far back (after=n/10)": tail // 10, "near head (tail-5000)": max(0, tail - 5000)}


async def a_correlation(conn: asyncpg.Connection, tail: int) -> uuid.UUID:
    """A correlation id of ten events near a tenth of the table (the loader's md5('corr-' || g / 10))."""
    value: uuid.UUID = await conn.fetchval("SELECT md5('corr-' || ($1::bigint / 10 + 3))::uuid", tail // 10)
    return value


class ApprovalCase:
    kind = "approvals"

    def __init__(self, name: str, sql: str) -> None:
        self.name, self.sql = name, sql

    def statement(self, _: Any = None) -> tuple[str, list[Any]]:
        return self.sql, [100 if self.sql is approvals.PENDING else 50]


APPROVAL_HISTORY = """
SELECT id, agent_name, action_type, risk_level, status, resolved_by, resolved_at, rejection_reason, created_at
FROM approval_requests WHERE status <> 'pending' OR expires_at <= now()
ORDER BY coalesce(resolved_at, expires_at) DESC LIMIT $1
"""  # handlers/console/queries.py's APPROVAL_HISTORY (the console's approvals page), copied: an edge's module
APPROVAL_CASES = [
    ApprovalCase("approvals pending (console, approvals.pending)", approvals.PENDING),
    ApprovalCase("approvals history (console)", APPROVAL_HISTORY),
]

INSERT_COST_TABLE = "CREATE TEMP TABLE bench_type_{0} (id bigserial, event_type text NOT NULL)"
INSERT_ONE = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) INSERT INTO bench_type_{0} (event_type) VALUES ('hot.type')"
INSERT_EVENT = """
EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
INSERT INTO agent_events (source_agent_id, source_agent_type, event_type, payload, target_agent_ids)
VALUES ('bench', 'worker', 'incident.updated', '{}', '{}')
"""


def _blocks(plan: Any) -> int:
    top = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    return sum(top.get(f"{kind} {op} Blocks", 0) for kind in ("Shared", "Local") for op in ("Hit", "Read"))


async def insert_cost(conn: asyncpg.Connection, rows: int = 200_000, samples: int = 200) -> dict[str, float]:
    """Buffers one insert touches: of a type that has ``rows`` rows, by the shape of its index alone; and on
    the loaded agent_events (all its indexes, idx_agent_events_type as 1011 made it), of its 30% type."""
    out = {}
    for shape, index in (
        ("none", None),
        ("hash (the seed)", "USING hash (event_type)"),
        ("btree (1011)", "USING btree (event_type)"),
    ):
        tag = shape.split()[0]
        await conn.execute(INSERT_COST_TABLE.format(tag))
        if index:
            await conn.execute(f"CREATE INDEX ON bench_type_{tag} {index}")
        await conn.execute(
            f"INSERT INTO bench_type_{tag} (event_type) SELECT 'hot.type' FROM generate_series(1, {rows})"
        )
        await conn.execute(f"VACUUM ANALYZE bench_type_{tag}")
        total = sum([_blocks(await conn.fetchval(INSERT_ONE.format(tag))) for _ in range(samples)])
        out[shape] = round(total / samples, 1)
        await conn.execute(f"DROP TABLE bench_type_{tag}")
    total = 0
    for _ in range(samples):
        tx = conn.transaction()
        await tx.start()
        try:
            total += _blocks(await conn.fetchval(INSERT_EVENT))
        finally:
            await tx.rollback()
    out["agent_events, all indexes"] = round(total / samples, 1)
    return out
