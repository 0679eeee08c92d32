"""fix_metrics: one row per fix, its timeline stamped as events arrive.

Stamps are order-independent: a "first time" stamp keeps the earliest value seen (LEAST ignores NULL),
so out-of-order deliveries end in the same row. The intervals are kept equal to the differences of the
timestamps by a trigger (migration 0100), whoever writes the row; ``intervals`` states the same rule.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

CREATE = """
INSERT INTO fix_metrics (error_type, sentry_issue_id, linear_issue_id, source, team_key, severity, detected_at,
                         metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id
"""
LATEST_FOR_SENTRY = """
SELECT id FROM fix_metrics WHERE sentry_issue_id = $1 ORDER BY created_at DESC, detected_at DESC LIMIT 1
"""
FOR_INCIDENT = "SELECT id FROM fix_metrics WHERE metadata ->> 'incident_id' = $1"
FOR_LINEAR = "SELECT id, linear_issue_id FROM fix_metrics WHERE linear_issue_id = ANY($1::text[])"
ACKNOWLEDGE = "UPDATE fix_metrics SET acknowledged_at = LEAST(acknowledged_at, $2) WHERE id = ANY($1::uuid[])"
START = """
UPDATE fix_metrics SET
    fix_started_at = LEAST(fix_started_at, $2),
    acknowledged_at = LEAST(acknowledged_at, $2),
    github_pr_url = COALESCE($3, github_pr_url)
WHERE id = ANY($1::uuid[])
"""
# A merge is the authoritative completion: it overrides a completion Linear reported first.
COMPLETE_BY_MERGE = """
UPDATE fix_metrics SET
    fix_completed_at = $2, commit_sha = $3, fix_successful = true, fix_method = 'pull_request',
    github_pr_url = $4,
    fix_started_at = LEAST(fix_started_at, $5, $2),
    acknowledged_at = LEAST(acknowledged_at, $5, $2)
WHERE id = ANY($1::uuid[])
"""
# Any other completion only fills what a merge has not already set.
COMPLETE_IF_UNSET = """
UPDATE fix_metrics SET
    fix_completed_at = COALESCE(fix_completed_at, $2),
    fix_successful = COALESCE(fix_successful, true),
    fix_method = COALESCE(fix_method, $3),
    commit_sha = COALESCE(commit_sha, $4),
    acknowledged_at = LEAST(acknowledged_at, $2)
WHERE id = ANY($1::uuid[])
"""
REGRESSION = """
UPDATE fix_metrics SET regression_occurred = true
WHERE id = (SELECT id FROM fix_metrics WHERE sentry_issue_id = $1 ORDER BY created_at DESC, detected_at DESC LIMIT 1)
"""
LINK_LINEAR = """
UPDATE fix_metrics SET linear_issue_id = $2, team_key = COALESCE(team_key, $3)
WHERE sentry_issue_id = $1 AND linear_issue_id IS NULL
"""


@dataclass(frozen=True)
class NewFix:
    error_type: str
    source: str
    detected_at: datetime
    severity: str | None = None
    sentry_issue_id: str | None = None
    linear_issue_id: str | None = None
    team_key: str | None = None
    metadata: dict[str, Any] | None = None


def intervals(
    detected_at: datetime,
    acknowledged_at: datetime | None,
    fix_started_at: datetime | None,
    fix_completed_at: datetime | None,
) -> tuple[timedelta | None, timedelta | None, timedelta | None]:
    """(time_to_acknowledge, time_to_fix_start, time_to_resolution): each stamp minus detected_at."""

    def since(stamp: datetime | None) -> timedelta | None:
        return stamp - detected_at if stamp is not None else None

    return since(acknowledged_at), since(fix_started_at), since(fix_completed_at)


async def create(conn: asyncpg.Connection, new: NewFix) -> uuid.UUID:
    fix_id: uuid.UUID = await conn.fetchval(
        CREATE,
        new.error_type,
        new.sentry_issue_id,
        new.linear_issue_id,
        new.source,
        new.team_key,
        new.severity,
        new.detected_at,
        new.metadata or {},
    )
    return fix_id


async def for_incident(conn: asyncpg.Connection, incident_id: uuid.UUID) -> list[uuid.UUID]:
    return [r["id"] for r in await conn.fetch(FOR_INCIDENT, str(incident_id))]


async def latest_for_sentry(conn: asyncpg.Connection, sentry_issue_id: str) -> list[uuid.UUID]:
    row = await conn.fetchval(LATEST_FOR_SENTRY, sentry_issue_id)
    return [row] if row is not None else []


async def for_linear(conn: asyncpg.Connection, identifiers: list[str]) -> list[uuid.UUID]:
    return [r["id"] for r in await conn.fetch(FOR_LINEAR, identifiers)]


async def acknowledge(conn: asyncpg.Connection, fix_ids: list[uuid.UUID], at: datetime) -> None:
    if fix_ids:
        await conn.execute(ACKNOWLEDGE, fix_ids, at)


async def start(conn: asyncpg.Connection, fix_ids: list[uuid.UUID], at: datetime, pr_url: str | None = None) -> None:
    if fix_ids:
        await conn.execute(START, fix_ids, at, pr_url)


async def complete_by_merge(
    conn: asyncpg.Connection,
    fix_ids: list[uuid.UUID],
    *,
    merged_at: datetime,
    commit_sha: str | None,
    pr_url: str,
    pr_created_at: datetime | None,
) -> None:
    if fix_ids:
        await conn.execute(COMPLETE_BY_MERGE, fix_ids, merged_at, commit_sha, pr_url, pr_created_at)


async def complete_if_unset(
    conn: asyncpg.Connection, fix_ids: list[uuid.UUID], at: datetime, method: str, commit_sha: str | None = None
) -> None:
    if fix_ids:
        await conn.execute(COMPLETE_IF_UNSET, fix_ids, at, method, commit_sha)


async def mark_regression(conn: asyncpg.Connection, sentry_issue_id: str) -> None:
    await conn.execute(REGRESSION, sentry_issue_id)


async def link_linear(conn: asyncpg.Connection, sentry_issue_id: str, identifier: str, team_key: str) -> None:
    await conn.execute(LINK_LINEAR, sentry_issue_id, identifier, team_key)
