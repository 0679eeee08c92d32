"""Incidents, actions and coding requests at scale, for bench/data_scale.py: the loaders.

Incidents over ~2 years (90% resolved), 50 services at 2% each plus ``checkout`` on 10% and ``ledger`` on
0.1%; actions by 100 agents; coding requests in every status. Loaded with generate_series.
"""

from __future__ import annotations

import time
from datetime import datetime

import asyncpg

LOAD_INCIDENTS = """
INSERT INTO infrastructure_incidents (severity, status, incident_type, source, source_id, affected_services, title,
                                      error_details, created_at, updated_at)
SELECT (ARRAY['low', 'low', 'medium', 'medium', 'high', 'critical', 'low', 'medium', 'high', 'low'])[1 + g / 7 % 10],
       CASE WHEN g % 100 < 90 THEN 'resolved' WHEN g % 100 < 94 THEN 'detected'
            WHEN g % 100 < 97 THEN 'acknowledged' ELSE 'mitigating' END,
       'error', 'bench', 'b-' || g,
       ARRAY['svc-' || (g % 50)] || CASE WHEN g % 10 = 0 THEN ARRAY['checkout'] ELSE '{}' END
                                 || CASE WHEN g % 1000 = 7 THEN ARRAY['ledger'] ELSE '{}' END,
       'Incident ' || g || ': TypeError in handler', '{"bench": true}'::jsonb,
       $1::timestamptz - make_interval(secs => g * 60), $1::timestamptz - make_interval(secs => g * 60)
FROM generate_series(1, $2::int) g
"""
# What the incident_services trigger (migration 1140) writes, for the rows loaded with triggers off.
COPY_SERVICES = """
INSERT INTO incident_services (service, created_at, incident_number, incident_id)
SELECT DISTINCT s, i.created_at, i.incident_number, i.id
FROM infrastructure_incidents i, unnest(i.affected_services) s
WHERE s IS NOT NULL
ON CONFLICT DO NOTHING
"""
LOAD_ACTIONS = """
INSERT INTO agent_actions (agent_name, action_type, action_category, success, execution_time_ms, created_at)
SELECT 'agent-' || (g % 100), 'restart_service', 'remediation', g % 7 <> 0, g % 5000,
       $1::timestamptz - make_interval(secs => g * 30)
FROM generate_series(1, $2::int) g
"""
LOAD_CODING = """
INSERT INTO coding_requests (source, source_id, title, description, status, requested_by_id, created_at, updated_at)
SELECT 'slack', 'bench-' || g, 'Request ' || g, 'Make it faster',
       (ARRAY['completed', 'completed', 'completed', 'cancelled', 'pending', 'in_progress', 'in_review',
              'planning', 'failed', 'completed'])[1 + g % 10],
       'U' || (g % 500), $1::timestamptz - make_interval(secs => g * 120),
       $1::timestamptz - make_interval(secs => g * 120)
FROM generate_series(1, $2::int) g
"""
# What the endpoints ran before issue 13 (one statement each, "($1 IS NULL OR ...)", no cursor).


async def load(
    conn: asyncpg.Connection, n_incidents: int, n_actions: int, n_coding: int, now: datetime
) -> dict[str, float]:
    """The rows, with triggers off where the server allows it; nothing when DIR already holds them. The
    seconds each took."""
    have = await conn.fetchval("SELECT count(*) FROM infrastructure_incidents WHERE source = 'bench'")
    mixed = await conn.fetchval("SELECT count(*) FROM infrastructure_incidents WHERE source_id = 'b-7'") and (
        await conn.fetchval("SELECT severity FROM infrastructure_incidents WHERE source_id = 'b-7'") == "low"
    )
    if have == n_incidents and mixed:
        if not await conn.fetchval("SELECT EXISTS (SELECT FROM incident_services)"):
            await conn.execute(COPY_SERVICES)
            await conn.execute("VACUUM ANALYZE incident_services")
        return {}
    took: dict[str, float] = {}
    await conn.execute("TRUNCATE infrastructure_incidents, incident_services, agent_actions, coding_requests CASCADE")
    try:  # the metrics triggers mark dirty hours: not what is measured here (needs a superuser)
        await conn.execute("SET session_replication_role = replica")
    except asyncpg.PostgresError:
        pass
    for name, sql, n in (
        ("incidents", LOAD_INCIDENTS, n_incidents),
        ("actions", LOAD_ACTIONS, n_actions),
        ("coding_requests", LOAD_CODING, n_coding),
    ):
        started = time.perf_counter()
        await conn.execute(sql, now, n)
        took[name] = round(time.perf_counter() - started, 1)
        print(f"loaded {n:,} {name} in {took[name]} s", flush=True)
    await conn.execute("RESET session_replication_role")
    started = time.perf_counter()
    await conn.execute(COPY_SERVICES)
    took["incident_services"] = round(time.perf_counter() - started, 1)
    await conn.execute("VACUUM ANALYZE infrastructure_incidents")
    await conn.execute("VACUUM ANALYZE incident_services")
    await conn.execute("VACUUM ANALYZE agent_actions")
    await conn.execute("VACUUM ANALYZE coding_requests")
    return took
