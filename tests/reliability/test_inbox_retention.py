"""Bounded growth: processed and ignored deliveries older than setting ``webhooks.retention`` are deleted by
the retention job; failed, dead and recent ones stay."""

from __future__ import annotations

import asyncpg

from jobs import inbox, scheduler

ROWS = """
INSERT INTO webhook_deliveries (source, delivery_id, event_type, body, status, received_at)
SELECT 'github', s || '-' || age, 'ping', convert_to(s || age, 'UTF8'), s, now() - make_interval(days => age)
FROM unnest(ARRAY['processed', 'ignored', 'failed', 'dead', 'received']) s, unnest(ARRAY[1, 29, 31, 400]) age
"""
LEFT = "SELECT delivery_id FROM webhook_deliveries ORDER BY delivery_id"


async def test_the_retention_job_deletes_finished_deliveries_older_than_the_setting(pool: asyncpg.Pool) -> None:
    setting = await pool.fetchrow("SELECT * FROM agent_swarm_config WHERE config_key = 'webhooks.retention'")
    assert setting["config_value"] == {"days": 30} and setting["description"] and setting["value_schema"]
    await pool.execute(ROWS)
    job = inbox.retention_job()
    assert await scheduler.tick(pool, job)
    kept = [r[0] for r in await pool.fetch(LEFT)]
    assert "processed-31" not in kept and "ignored-400" not in kept
    assert {"processed-1", "processed-29", "ignored-29", "failed-400", "dead-400", "received-400"} <= set(kept)
    assert len(kept) == 20 - 4

    await pool.execute(
        "UPDATE agent_swarm_config SET config_value = '{\"days\": 2}' WHERE config_key = 'webhooks.retention'"
    )
    assert await inbox.prune(pool, batch=1) == 2  # in batches until none is left
    assert {"processed-29", "ignored-29"}.isdisjoint(r[0] for r in await pool.fetch(LEFT))
