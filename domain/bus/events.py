"""The inter-agent bus: ``agent_events`` rows, ordered by their commit-ordered offset.

Publishing is an INSERT in the caller's transaction (so an event is seen only if its change commits);
the database trigger gives it an offset and NOTIFYs ``agent_events`` with it. Readers page by offset.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

# NOTIFY on commit by the offsets trigger (0006_event_offsets.sql): a wake-up, the rows are the truth.
CHANNEL = "agent_events"
PUBLISH = """
INSERT INTO agent_events (source_agent_id, source_agent_type, event_type, payload, target_agent_ids, correlation_id)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id, created_at
"""
OFFSET_OF = "SELECT seq FROM agent_event_offsets WHERE event_id = $1"
READ_AFTER = """
SELECT o.seq, e.id, e.source_agent_id, e.source_agent_type, e.event_type, e.payload, e.target_agent_ids,
       e.correlation_id, e.created_at
FROM agent_event_offsets o
JOIN agent_events e ON e.id = o.event_id
WHERE o.seq > $1
  AND ($2::text IS NULL OR e.target_agent_ids @> ARRAY[$2] OR coalesce(cardinality(e.target_agent_ids), 0) = 0)
  AND ($3::text IS NULL OR e.event_type = $3)
  AND ($4::uuid IS NULL OR e.correlation_id = $4)
ORDER BY o.seq
LIMIT $5
"""
GET_ONE = """
SELECT o.seq, e.id, e.source_agent_id, e.source_agent_type, e.event_type, e.payload, e.target_agent_ids,
       e.correlation_id, e.created_at
FROM agent_event_offsets o
JOIN agent_events e ON e.id = o.event_id
WHERE e.id = $1
"""

# The service's own identity when it publishes (continuations, coding requests, incidents).
SERVICE_AGENT_ID = "swarm-bridge"
SERVICE_AGENT_TYPE = "integration"
# Event types only the service emits: nobody else may publish them (POST /api/v1/events answers 403).
RESERVED_TYPE_PREFIXES = ("approval.", "coding_request.")


@dataclass(frozen=True)
class Event:
    seq: int
    id: uuid.UUID
    source_agent_id: str
    source_agent_type: str
    event_type: str
    payload: dict[str, Any]
    target_agent_ids: list[str]
    correlation_id: uuid.UUID | None
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "id": str(self.id),
            "source_agent_id": self.source_agent_id,
            "source_agent_type": self.source_agent_type,
            "event_type": self.event_type,
            "payload": self.payload,
            "target_agent_ids": self.target_agent_ids,
            "correlation_id": str(self.correlation_id) if self.correlation_id else None,
            "created_at": self.created_at.isoformat(),
        }


def reserved(source_agent_id: str, event_type: str) -> str | None:
    """Why an agent may not publish this event (it would pass for the service's own), else None.

    Compared case-insensitively and without surrounding blanks, so no look-alike passes either."""
    if source_agent_id.strip().casefold() == SERVICE_AGENT_ID:
        return f"the source {SERVICE_AGENT_ID!r} is the service's own"
    kind = event_type.strip().casefold()
    for prefix in RESERVED_TYPE_PREFIXES:
        if kind.startswith(prefix):
            return f"event types {prefix}* are the service's own"
    return None


async def publish(
    conn: asyncpg.Connection,
    event_type: str,
    payload: dict[str, Any],
    *,
    targets: Sequence[str] = (),
    correlation_id: uuid.UUID | None = None,
    source_agent_id: str = SERVICE_AGENT_ID,
    source_agent_type: str = SERVICE_AGENT_TYPE,
) -> uuid.UUID:
    """Insert an event in the caller's transaction; listeners wake when it commits. Returns its id."""
    row = await conn.fetchrow(
        PUBLISH, source_agent_id, source_agent_type, event_type, payload, list(targets), correlation_id
    )
    event_id: uuid.UUID = row["id"]
    return event_id


async def read_after(
    conn: asyncpg.Connection | asyncpg.Pool,
    after: int = 0,
    *,
    target: str | None = None,
    event_type: str | None = None,
    correlation_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[Event]:
    """Events after offset ``after`` in commit order; ``target`` sees its own and broadcasts."""
    rows = await conn.fetch(READ_AFTER, after, target, event_type, correlation_id, limit)
    return [Event(**{k: r[k] for k in r.keys()}) for r in rows]


async def get(conn: asyncpg.Connection | asyncpg.Pool, event_id: uuid.UUID) -> Event:
    """One event with its offset (also inside the publishing transaction, before the commit)."""
    r = await conn.fetchrow(GET_ONE, event_id)
    if r is None:
        raise LookupError(f"no event {event_id}")
    return Event(**{k: r[k] for k in r.keys()})
