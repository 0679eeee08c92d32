"""Hourly agent_metrics rollup time for one hour holding N actions (default 100,000).

    .venv/bin/python bench/rollup.py [--actions 100000] [--runs 5]   (DATABASE_URL, else embedded PostgreSQL)

Loads N actions into one hour (20 agents, ~10% without a time, 2% linked to 500 incidents, half of them
resolved), then times ``domain.metrics.rollup.rollup`` of that hour (the one upsert statement) several times, and
the job's dirty-hour pass once. Baseline in the same process: a plain count(*) over the hour.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config import Config
from db import connect, embedded, migrate
from domain.metrics import rollup as metrics

HOUR = datetime(2026, 1, 5, 10, tzinfo=UTC)
LOAD = """
WITH inc AS (
    INSERT INTO infrastructure_incidents (severity, incident_type, source, title, created_at, resolved_at, resolved_by)
    SELECT 'high', 'bench', 'bench', 'i' || g, $1::timestamptz,
           CASE WHEN g % 2 = 0 THEN $1::timestamptz + interval '20 min' END,
           CASE WHEN g % 2 = 0 THEN 'agent-' || (g % 20) END
    FROM generate_series(1, 500) g
    RETURNING id
), ids AS (SELECT array_agg(id) AS a FROM inc)
INSERT INTO agent_actions (agent_name, action_type, success, execution_time_ms, incident_id, requires_approval,
                           created_at)
SELECT 'agent-' || (g % 20), 'bench', g % 7 <> 0,
       CASE WHEN g % 10 = 0 THEN NULL ELSE (g * 7919) % 5000 END,
       CASE WHEN g % 50 = 0 THEN (SELECT a[1 + (g / 50) % 500] FROM ids) END,
       g % 333 = 0,
       $1::timestamptz + make_interval(secs => (g % 3600))
FROM generate_series(1, $2::int) g
"""


async def main(actions: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        config = Config(database_url=os.environ.get("DATABASE_URL") or None, data_dir=Path(data_dir))
        async with embedded.database_url(config) as dsn:
            pool = await connect.create_pool(dsn, min_size=1, max_size=2, command_timeout=600)
            try:
                async with pool.acquire() as conn:
                    await migrate.migrate(conn)
                    await conn.execute("TRUNCATE agent_actions, agent_metrics, agent_metrics_dirty")
                    t0 = time.perf_counter()
                    await conn.execute(LOAD, HOUR, actions)
                    load_s = time.perf_counter() - t0
                    await conn.execute("ANALYZE agent_actions")
                    baseline = []
                    for _ in range(runs):
                        t0 = time.perf_counter()
                        await conn.fetchval(
                            "SELECT count(*) FROM agent_actions WHERE created_at >= $1 AND created_at < $2",
                            HOUR,
                            HOUR + timedelta(hours=1),
                        )
                        baseline.append(time.perf_counter() - t0)
                    times = []
                    for _ in range(runs):
                        t0 = time.perf_counter()
                        rolled = await metrics.rollup(conn, HOUR, HOUR + timedelta(hours=1))
                        times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                hours = await metrics.roll_dirty(pool)
                job_s = time.perf_counter() - t0
            finally:
                await pool.close()
    print(f"actions in the hour: {actions} (loaded in {load_s:.2f} s), rows upserted: {rolled.upserted}")
    print(
        f"rollup of the hour: median {statistics.median(times) * 1000:.0f} ms, min {min(times) * 1000:.0f} ms, "
        f"max {max(times) * 1000:.0f} ms over {runs} runs"
    )
    print(
        f"baseline count(*) over the hour: median {statistics.median(baseline) * 1000:.1f} ms "
        f"(rollup/baseline {statistics.median(times) / statistics.median(baseline):.1f}x)"
    )
    print(f"job pass (dirty hours: {hours}): {job_s * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--actions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.actions, args.runs))
