"""sentry_error_mappings: which Linear issue tracks which Sentry issue, and that issue's state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import asyncpg


class MappingStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    IGNORED = "ignored"
    UNLINKED = "unlinked"  # its Linear issue was deleted: the next regression opens a new one


GET = "SELECT * FROM sentry_error_mappings WHERE sentry_issue_id = $1"
BY_LINEAR = "SELECT * FROM sentry_error_mappings WHERE linear_issue_id = $1"
REOPEN = """
UPDATE sentry_error_mappings SET status = 'open' WHERE sentry_issue_id = $1 AND status = 'resolved' RETURNING *
"""
# An unlinked mapping stays unlinked until a new Linear issue is opened for it (linear_sync.create_issue).
SET_STATUS = """
UPDATE sentry_error_mappings SET status = $2 WHERE sentry_issue_id = $1 AND status <> $2 AND status <> 'unlinked'
RETURNING *
"""
SET_STATUS_BY_LINEAR = """
UPDATE sentry_error_mappings SET status = $2 WHERE linear_issue_id = $1 AND status <> $2 AND status <> 'unlinked'
"""
UNLINK = """
UPDATE sentry_error_mappings SET status = 'unlinked' WHERE linear_issue_id = $1 AND status <> 'unlinked' RETURNING *
"""


@dataclass(frozen=True)
class Mapping:
    sentry_issue_id: str
    linear_issue_id: str
    error_type: str
    team_key: str
    status: str
    event_count: int
    last_seen_at: datetime

    @classmethod
    def of(cls, r: asyncpg.Record) -> Mapping:
        return cls(
            r["sentry_issue_id"],
            r["linear_issue_id"],
            r["error_type"],
            r["team_key"],
            r["status"],
            r["event_count"],
            r["last_seen_at"],
        )


async def get(conn: asyncpg.Connection, sentry_issue_id: str) -> Mapping | None:
    r = await conn.fetchrow(GET, sentry_issue_id)
    return Mapping.of(r) if r else None


async def by_linear(conn: asyncpg.Connection, identifier: str) -> Mapping | None:
    r = await conn.fetchrow(BY_LINEAR, identifier)
    return Mapping.of(r) if r else None


async def reopen(conn: asyncpg.Connection, sentry_issue_id: str) -> Mapping | None:
    r = await conn.fetchrow(REOPEN, sentry_issue_id)
    return Mapping.of(r) if r else None


async def set_status(conn: asyncpg.Connection, sentry_issue_id: str, status: MappingStatus) -> None:
    await conn.execute(SET_STATUS, sentry_issue_id, status.value)


async def set_status_by_linear(conn: asyncpg.Connection, identifier: str, status: MappingStatus) -> None:
    await conn.execute(SET_STATUS_BY_LINEAR, identifier, status.value)


async def unlink(conn: asyncpg.Connection, identifier: str) -> Mapping | None:
    """The Linear issue was deleted: the mapping is unlinked (None when none was linked to it)."""
    r = await conn.fetchrow(UNLINK, identifier)
    return Mapping.of(r) if r else None
