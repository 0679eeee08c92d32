"""The runbooks job: embed and match new (or changed) incidents, learn from resolutions, count fixes that
held, settle promotions. Every pass works from what the database says is not done yet, so it also heals
what a crash or a lost wake-up missed; the scheduler's advisory lock keeps it to one replica at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

import logs
from domain.runbooks import config, learning, matching, promotion
from domain.runbooks.embedders import Embedder, named
from jobs import scheduler

INTERVAL_S = 3.0
UNEMBEDDED = "SELECT * FROM infrastructure_incidents WHERE embedding IS NULL ORDER BY created_at LIMIT $1"
# Guarded: the text embedded is still the incident's (a concurrent edit clears the embedding again).
SET_EMBEDDING = """
UPDATE infrastructure_incidents SET embedding = $2::real[]::vector
WHERE id = $1 AND embedding IS NULL AND title = $3 AND error_message IS NOT DISTINCT FROM $4
"""


async def embed_pending(
    pool: asyncpg.Pool, settings: config.Settings, embedder: Embedder, now: datetime, *, batch: int = 100
) -> int:
    """Embed incidents without an embedding, match the new ones, handle regressions. Returns how many."""
    done = 0
    for row in await pool.fetch(UNEMBEDDED, batch):
        incident = dict(row)
        vector = embedder.embed(incident)
        async with pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                SET_EMBEDDING, incident["id"], vector, incident["title"], incident["error_message"]
            )
            if status != "UPDATE 1":
                continue
            done += 1
            if incident["status"] in ("detected", "acknowledged", "mitigating"):
                await matching.match_incident(conn, incident, vector, settings, embedder)
            await promotion.on_new_incident(conn, incident, now)
    return done


async def run_once(pool: asyncpg.Pool, *, now: datetime | None = None) -> dict[str, Any]:
    """One pass of everything; ``now`` is injectable so tests need not wait for ``learn_after``."""
    moment = now or datetime.now(UTC)
    settings = await config.read(pool)
    embedder = named(settings.embedder)
    embedded = await embed_pending(pool, settings, embedder, moment)
    learned = await learning.learn_resolved(pool, settings, embedder, moment)
    held = await learning.count_held(pool, settings, moment)
    async with pool.acquire() as conn, conn.transaction():
        promoted = await promotion.settle_promotions(conn, moment)
    if embedded or learned or held or promoted:
        logs.event("runbooks.pass", embedded=embedded, learned=learned, held=held, promoted=promoted)
    return {"embedded": embedded, "learned": learned, "held": held, "promoted": promoted}


JOB = scheduler.Job("runbooks.process", INTERVAL_S, run_once)
