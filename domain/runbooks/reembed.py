"""Re-embed every incident and pattern with the configured embedder (after ``runbooks.embedder`` changed)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from domain.runbooks import config, patterns
from domain.runbooks.embedders import named

COUNT = "SELECT (SELECT count(*) FROM infrastructure_incidents) + (SELECT count(*) FROM runbook_patterns)"
INCIDENTS = "SELECT * FROM infrastructure_incidents WHERE id > $1 ORDER BY id LIMIT $2"
PATTERNS = "SELECT * FROM runbook_patterns WHERE id > $1 ORDER BY id LIMIT $2"
SET_INCIDENTS = """
UPDATE infrastructure_incidents i SET embedding = v.e::vector
FROM unnest($1::uuid[], $2::text[]) AS v(id, e) WHERE i.id = v.id
"""
SET_PATTERNS = """
UPDATE runbook_patterns p SET embedding = v.e::vector
FROM unnest($1::uuid[], $2::text[]) AS v(id, e) WHERE p.id = v.id
"""
RECORD_MODEL = """
INSERT INTO runbook_embedder_state (singleton, model) VALUES (true, $1)
ON CONFLICT (singleton) DO UPDATE SET model = $1, updated_at = now()
"""
ZERO = "00000000-0000-0000-0000-000000000000"


def _text(vector: list[float]) -> str:
    return "[" + ",".join(f"{v:.7g}" for v in vector) + "]"


async def reembed(pool: asyncpg.Pool, progress: Callable[[int, int], None], batch: int = 500) -> tuple[str, int]:
    """Returns the model used and how many rows were embedded."""
    settings = await config.read(pool)
    embedder = named(settings.embedder)
    total, done = await pool.fetchval(COUNT), 0
    for select, update, shape in ((INCIDENTS, SET_INCIDENTS, dict), (PATTERNS, SET_PATTERNS, _pattern)):
        after = ZERO
        while rows := await pool.fetch(select, after, batch):
            ids = [r["id"] for r in rows]
            await pool.execute(update, ids, [_text(embedder.embed(shape(r))) for r in rows])
            after, done = str(ids[-1]), done + len(rows)
            progress(done, total)
    await pool.execute(RECORD_MODEL, embedder.model)
    return embedder.model, done


def _pattern(row: asyncpg.Record) -> dict[str, object]:
    return patterns.as_incident(row["pattern_type"], row["pattern_name"], row["trigger_conditions"], row["description"])
