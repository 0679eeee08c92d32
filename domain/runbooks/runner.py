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
# One statement for a batch, each incident's vector a slice of one flat real[] ($2, $5 dimensions each).
# Guarded: the text embedded is still the incident's (a concurrent edit clears the embedding again). A row
# another transaction holds is skipped, left for the next pass: the job never waits on an incident's lock.
SET_EMBEDDINGS = """
WITH given AS (
    SELECT * FROM unnest($1::uuid[], $3::text[], $4::text[]) WITH ORDINALITY AS g(id, title, message, n)
), mine AS (
    SELECT i.id, given.n FROM infrastructure_incidents i JOIN given ON given.id = i.id
    WHERE i.embedding IS NULL AND i.title = given.title AND i.error_message IS NOT DISTINCT FROM given.message
    ORDER BY i.id
    FOR UPDATE OF i SKIP LOCKED
)
UPDATE infrastructure_incidents i SET embedding = (($2::real[])[(mine.n - 1) * $5 + 1 : mine.n * $5])::vector
FROM mine WHERE i.id = mine.id
RETURNING i.id
"""
OPEN = ("detected", "acknowledged", "mitigating")


async def embed_pending(
    pool: asyncpg.Pool, settings: config.Settings, embedder: Embedder, now: datetime, *, batch: int = 100
) -> int:
    """Embed incidents without an embedding, match the new ones, handle regressions. Returns how many.
    One transaction for the batch: its embeddings in one statement, the open incidents' candidates in
    another (split after each regression, whose gating may change a later incident's mode)."""
    incidents = [dict(row) for row in await pool.fetch(UNEMBEDDED, batch)]
    if not incidents:
        return 0
    vectors = [embedder.embed(incident) for incident in incidents]
    async with pool.acquire() as conn, conn.transaction():
        updated = {
            r["id"]
            for r in await conn.fetch(
                SET_EMBEDDINGS,
                [i["id"] for i in incidents],
                [x for v in vectors for x in v],
                [i["title"] for i in incidents],
                [i["error_message"] for i in incidents],
                len(vectors[0]),
            )
        }
        todo = [i for i in incidents if i["id"] in updated]
        while todo:
            cut = next((k + 1 for k, i in enumerate(todo) if promotion.regression_of(i)), len(todo))
            chunk, todo = todo[:cut], todo[cut:]
            to_match = [i for i in chunk if i["status"] in OPEN]
            found = await matching.best_many(conn, to_match, settings)
            matches = {i["id"]: f for i, f in zip(to_match, found, strict=True)}
            for incident in chunk:
                if incident["status"] in OPEN:
                    await matching.act_on(conn, incident, matches[incident["id"]], settings, embedder)
                await promotion.on_new_incident(conn, incident, now)
    return len(updated)


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
