"""``runbook_patterns`` and the runbooks' internal tables: SQL constants and small functions over them.

A pattern's versions are rows chained by ``previous_version_id``; the current version is the one no row
points back at (a partial unique index lets each version have one successor, so concurrent edits of
one version cannot both win). The current version carries the pattern's name; a superseded one is
renamed ``<name> (v<n>)`` in the transaction that adds its successor.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

PATTERN_COLUMNS = """id, pattern_name, pattern_type, trigger_conditions, automated_steps, requires_approval,
    auto_execute_threshold, usage_count, success_count, failure_count, avg_resolution_time_ms, description,
    version, previous_version_id, created_at, updated_at, last_used_at"""
CURRENT = "NOT EXISTS (SELECT 1 FROM runbook_patterns s WHERE s.previous_version_id = p.id)"

GET = f"SELECT {PATTERN_COLUMNS}, {CURRENT} AS current FROM runbook_patterns p WHERE id = $1"
LIST = f"""
SELECT {PATTERN_COLUMNS}, true AS current FROM runbook_patterns p
WHERE ($1::text IS NULL OR pattern_type = $1) AND {CURRENT}
ORDER BY updated_at DESC, id LIMIT $2
"""
CHAIN = f"""
WITH RECURSIVE chain AS (
    SELECT {PATTERN_COLUMNS}, 0 AS depth FROM runbook_patterns WHERE id = $1
    UNION ALL
    SELECT {", ".join("p." + c.strip() for c in PATTERN_COLUMNS.split(","))}, chain.depth + 1
    FROM runbook_patterns p JOIN chain ON p.id = chain.previous_version_id
    WHERE chain.depth < 1000
)
SELECT id, version, pattern_name, usage_count, success_count, failure_count, created_at FROM chain ORDER BY depth
"""
INSERT = f"""
INSERT INTO runbook_patterns (pattern_name, pattern_type, trigger_conditions, automated_steps, requires_approval,
                              auto_execute_threshold, description, embedding, version, previous_version_id)
VALUES ($1, $2, $3, $4, $5, coalesce($6, 3), $7, $8::real[]::vector, $9, $10)
ON CONFLICT (pattern_name) DO NOTHING
RETURNING {PATTERN_COLUMNS}, true AS current
"""
# The superseded version gives up the name its successor takes; only while it is still current.
RETIRE_NAME = f"""
UPDATE runbook_patterns p SET pattern_name = left(pattern_name, 180) || ' (v' || version || ')'
WHERE id = $1 AND {CURRENT}
RETURNING pattern_name
"""
SET_REQUIRES_APPROVAL = f"""
UPDATE runbook_patterns SET requires_approval = $2, updated_at = now()
FROM (SELECT requires_approval AS was FROM runbook_patterns WHERE id = $1 FOR UPDATE) old
WHERE id = $1
RETURNING {PATTERN_COLUMNS}, old.was
"""
# One statement: the outcome row (first one per pattern and incident wins), the counters it moves, and
# the exact mean of successful resolution times (a sum and a count, each moved under its row lock).
# A failure gates the version again (demotion); ``demoted`` says it changed.
OUTCOME = f"""
WITH old AS (SELECT requires_approval AS was FROM runbook_patterns WHERE id = $1 FOR UPDATE),
outcome AS (
    INSERT INTO runbook_outcomes (pattern_id, incident_id, success, resolution_time_ms, source)
    SELECT $1, $2, $3, $4, $5 FROM old
    ON CONFLICT (pattern_id, incident_id) DO NOTHING
    RETURNING success, resolution_time_ms
),
timing AS (
    INSERT INTO runbook_evidence AS e (pattern_id, timed, time_sum_ms)
    SELECT $1, 1, resolution_time_ms FROM outcome WHERE success AND resolution_time_ms IS NOT NULL
    ON CONFLICT (pattern_id) DO UPDATE
        SET timed = e.timed + 1, time_sum_ms = e.time_sum_ms + excluded.time_sum_ms
    RETURNING round(time_sum_ms::numeric / timed)::int AS avg_ms
)
UPDATE runbook_patterns p SET
    usage_count = usage_count + 1,
    success_count = success_count + CASE WHEN o.success THEN 1 ELSE 0 END,
    failure_count = failure_count + CASE WHEN o.success THEN 0 ELSE 1 END,
    avg_resolution_time_ms = coalesce((SELECT avg_ms FROM timing), avg_resolution_time_ms),
    requires_approval = requires_approval OR NOT o.success,
    last_used_at = $6,
    updated_at = now()
FROM outcome o, old
WHERE p.id = $1
RETURNING {", ".join("p." + c.strip() for c in PATTERN_COLUMNS.split(","))}, true AS current,
          (NOT old.was AND NOT o.success) AS demoted
"""
STATS = """
SELECT count(*) FILTER (WHERE success) AS successes, count(*) AS trials,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_time_ms) FILTER (WHERE success) AS median_ms
FROM runbook_outcomes WHERE pattern_id = $1
"""
EMBED_PATTERN = "UPDATE runbook_patterns SET embedding = $2::real[]::vector WHERE id = $1"


@dataclass(frozen=True)
class Pattern:
    id: uuid.UUID
    pattern_name: str
    pattern_type: str
    trigger_conditions: dict[str, Any]
    automated_steps: list[dict[str, Any]]
    requires_approval: bool
    auto_execute_threshold: int | None
    usage_count: int
    success_count: int
    failure_count: int
    avg_resolution_time_ms: int | None
    description: str | None
    version: int
    previous_version_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None
    current: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, record: asyncpg.Record) -> Pattern:
        names = set(cls.__dataclass_fields__) - {"extra"}
        row = dict(record)
        return cls(
            **{k: v for k, v in row.items() if k in names}, extra={k: v for k, v in row.items() if k not in names}
        )

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in self.__dataclass_fields__:
            if key == "extra":
                continue
            value = getattr(self, key)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, uuid.UUID):
                value = str(value)
            out[key] = value
        return out


@dataclass(frozen=True)
class NewPattern:
    pattern_name: str
    pattern_type: str
    trigger_conditions: dict[str, Any]
    automated_steps: list[dict[str, Any]]
    description: str | None
    embedding: list[float] | None
    requires_approval: bool = True
    auto_execute_threshold: int | None = None


class Superseded(Exception):
    """The version was edited by someone else first: it is no longer the current one."""


async def get(conn: asyncpg.Connection | asyncpg.Pool, pattern_id: uuid.UUID) -> Pattern | None:
    row = await conn.fetchrow(GET, pattern_id)
    return Pattern.of(row) if row else None


async def current(conn: asyncpg.Connection, *, pattern_type: str | None, limit: int) -> list[Pattern]:
    return [Pattern.of(r) for r in await conn.fetch(LIST, pattern_type, limit)]


async def chain(conn: asyncpg.Connection, pattern_id: uuid.UUID) -> list[dict[str, Any]]:
    """This version and every earlier one, newest first."""
    return [
        {
            k: (str(v) if isinstance(v, uuid.UUID) else v.isoformat() if isinstance(v, datetime) else v)
            for k, v in r.items()
        }
        for r in await conn.fetch(CHAIN, pattern_id)
    ]


async def insert(
    conn: asyncpg.Connection, new: NewPattern, *, previous: Pattern | None = None, rename: bool = True
) -> Pattern | None:
    """Insert a pattern (version 1), or the next version of ``previous`` (call inside a transaction).
    A taken name gets a short suffix (None without ``rename``); a superseded ``previous`` raises Superseded."""
    name = new.pattern_name
    if previous is not None:
        if await conn.fetchval(RETIRE_NAME, previous.id) is None:
            raise Superseded(str(previous.id))
    for attempt in range(5):
        try_name = name if attempt == 0 else f"{name[:170]} #{uuid.uuid4().hex[:6]}"
        try:
            async with conn.transaction():
                row = await conn.fetchrow(
                    INSERT,
                    try_name,
                    new.pattern_type,
                    new.trigger_conditions,
                    new.automated_steps,
                    new.requires_approval,
                    new.auto_execute_threshold,
                    new.description,
                    new.embedding,
                    previous.version + 1 if previous else 1,
                    previous.id if previous else None,
                )
        except asyncpg.UniqueViolationError as exc:  # a concurrent successor of the same version
            raise Superseded(str(previous.id if previous else "")) from exc
        if row is not None:
            return Pattern.of(row)
        if not rename:
            return None
    raise RuntimeError(f"no free pattern name near {name!r}")


async def record_outcome(
    conn: asyncpg.Connection,
    pattern_id: uuid.UUID,
    incident_id: uuid.UUID,
    *,
    success: bool,
    resolution_time_ms: int | None,
    source: str,
    now: datetime,
) -> tuple[Pattern, bool] | None:
    """Count one outcome (one statement); None when this incident's outcome was already counted or the
    pattern does not exist. Returns the pattern after it, and whether this failure demoted it."""
    row = await conn.fetchrow(OUTCOME, pattern_id, incident_id, success, resolution_time_ms, source, now)
    if row is None:
        return None
    return Pattern.of(row), bool(row["demoted"])


async def stats(conn: asyncpg.Connection, pattern_id: uuid.UUID) -> tuple[int, int, float | None]:
    row = await conn.fetchrow(STATS, pattern_id)
    return row["successes"], row["trials"], row["median_ms"]


async def set_requires_approval(
    conn: asyncpg.Connection, pattern_id: uuid.UUID, value: bool
) -> tuple[Pattern, bool] | None:
    """Set the gate; returns the pattern and whether it was set before."""
    row = await conn.fetchrow(SET_REQUIRES_APPROVAL, pattern_id, value)
    return (Pattern.of(row), bool(row["was"])) if row else None


async def set_embedding(conn: asyncpg.Connection, pattern_id: uuid.UUID, embedding: list[float]) -> None:
    await conn.execute(EMBED_PATTERN, pattern_id, embedding)
