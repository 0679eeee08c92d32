"""Matching time with many runbook patterns and embedded incidents, and the plans that show the HNSW
indexes are used.

    .venv/bin/python bench/runbooks_match.py [--patterns 10000] [--incidents 100000] [--runs 200]

Starts an embedded PostgreSQL in a temporary directory (or uses DATABASE_URL's server: a database of its
own is created there), fills the tables with random unit vectors made in SQL (generate_series), builds
the seed's HNSW indexes, and times ``matching.best`` (patterns) and ``similar.ranked`` (incidents).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from db import connect, embedded, migrate
from domain.runbooks import config, embedder, matching, similar
from domain.runbooks.embedders import LEXICAL
from tests.conftest import create_database

BATCH = 100  # the runner's batch
RANDOM_UNIT = """(SELECT (array_agg(x / norm))::real[]::vector FROM (
    SELECT x, sqrt(sum(x * x) OVER ()) AS norm FROM (SELECT random() - 0.5 AS x FROM generate_series(1, 384) d
    WHERE g.g > 0) r) n)"""
FILL_PATTERNS = f"""
INSERT INTO runbook_patterns (pattern_name, pattern_type, trigger_conditions, automated_steps, embedding)
SELECT 'bench ' || g, (ARRAY['application_error', 'ci_failure', 'infrastructure', 'regression'])[1 + g % 4],
       jsonb_build_object('incident_type', 'x', 'error_type', 'E' || g, 'services', jsonb_build_array('svc' || g % 50)),
       '[{{"action": "restart"}}]', {RANDOM_UNIT}
FROM generate_series(1, $1) g(g)
"""
FILL_INCIDENTS = f"""
INSERT INTO infrastructure_incidents (severity, incident_type, source, title, status, embedding)
SELECT 'low', 'application_error', 'bench', 'bench ' || g, 'resolved', {RANDOM_UNIT}
FROM generate_series($1::int, $2::int) g(g)
"""


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        url = os.environ.get("DATABASE_URL")
        if not url:
            server = embedded.start(Path(tmp))
            url = server.get_uri()
        try:
            dsn = await create_database(url, "bench")
            conn = await asyncpg.connect(dsn)
            await migrate.migrate(conn)
            await conn.close()
            await run(dsn, args)
        finally:
            if server is not None:
                server.cleanup()


async def run(dsn: str, args: argparse.Namespace) -> None:
    pool = await connect.create_pool(dsn, min_size=1, max_size=2)
    conn = await asyncpg.connect(dsn)  # no command timeout: filling and indexing take minutes
    try:
        await conn.execute("ALTER TABLE infrastructure_incidents DISABLE TRIGGER USER")
        started = time.perf_counter()
        await conn.execute("DROP INDEX infrastructure_incidents_embedding_idx, runbook_patterns_embedding_idx")
        await conn.execute(FILL_PATTERNS, args.patterns)
        for start in range(1, args.incidents + 1, 50_000):
            await conn.execute(FILL_INCIDENTS, start, min(start + 49_999, args.incidents))
        filled = time.perf_counter() - started
        await conn.execute("SET maintenance_work_mem = '512MB'")
        started = time.perf_counter()
        await conn.execute(
            "CREATE INDEX runbook_patterns_embedding_idx ON runbook_patterns USING hnsw (embedding vector_cosine_ops)"
        )
        await conn.execute(
            "CREATE INDEX infrastructure_incidents_embedding_idx ON infrastructure_incidents "
            "USING hnsw (embedding vector_cosine_ops)"
        )
        await conn.execute("ANALYZE")
        indexed = time.perf_counter() - started
    finally:
        await conn.close()
    print(f"{args.patterns} patterns, {args.incidents} embedded incidents:", end=" ")
    print(f"filled in {filled:.1f}s, indexed in {indexed:.1f}s")
    settings = await config.read(pool)
    probe = {
        "id": None,
        "incident_type": "application_error",
        "title": "ConnectionRefusedError: connection to server at db-3, port 5432 failed",
        "error_message": "could not connect to server",
        "affected_services": ["payments"],
        "error_details": {"error_type": "OperationalError"},
        "source": "sentry",
    }
    vector = embedder.embed_incident(probe)
    async with pool.acquire() as conn:
        batch = await conn.fetch("SELECT id FROM infrastructure_incidents LIMIT $1", BATCH)
        for label, query, params in (
            ("patterns", matching.CANDIDATES, (vector, "application_error", matching.rules.facts(probe), None)),
            ("incidents", similar.RANKED, (vector, "00000000-0000-0000-0000-000000000000", 5)),
            (
                "patterns, 3 incidents in one statement",
                matching.CANDIDATES_MANY,
                ([b["id"] for b in batch[:3]], ["application_error"] * 3, [matching.rules.facts(probe)] * 3),
            ),
        ):
            plan = await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF) " + query, *params)
            print(f"--- EXPLAIN ANALYZE ({label})")
            print("\n".join(r[0] for r in plan))
        for label, call in (
            ("match (matching.best, 10k patterns)", lambda: matching.best(conn, probe, vector, settings)),
            (
                f"match {BATCH} incidents (matching.best_many, 10k patterns)",
                lambda: matching.best_many(conn, [{**probe, "id": b["id"]} for b in batch], settings),
            ),
            (
                "similar (similar.ranked, limit 5)",
                lambda: similar.ranked(conn, {**probe, "embedded": False}, LEXICAL, 5),
            ),
        ):
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                await call()
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            p50, p95 = statistics.median(times), times[int(len(times) * 0.95)]
            print(f"{label}: p50 {p50:.2f} ms, p95 {p95:.2f} ms ({args.runs} runs)")
    await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--patterns", type=int, default=10_000)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
