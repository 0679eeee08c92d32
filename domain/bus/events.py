"""The inter-agent bus: ``agent_events`` rows, ordered by their commit-ordered offset (``seq``).

Publishing is an INSERT in the caller's transaction (so an event is seen only if its change commits);
the database trigger records it without an offset and NOTIFYs ``agent_events`` at the commit. The
sequencer (``sequence``, db/migrations/1010_bus_sequencer.sql) numbers committed rows afterwards, so no
publisher waits on another's transaction and a row that commits late gets a later seq: a cursor never
skips it. Readers page by seq; a page's ``next`` is the highest seq it scanned, matched or not.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from db.listen import AFTER_COMMIT

# NOTIFY on commit by the offsets trigger (0006_event_offsets.sql): a wake-up, the rows are the truth.
CHANNEL = "agent_events"
PUBLISH = """
INSERT INTO agent_events (source_agent_id, source_agent_type, event_type, payload, target_agent_ids, correlation_id)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id, created_at
"""
# The same INSERT as the caller's role, in one statement that commits by itself (1110_bus_publish_as.sql),
# with no NOTIFY inside it: the caller announces it after (db/listen.py Hub.announce).
PUBLISH_AS = f"""
SELECT agent_events_publish_as($1, $2, $3, $4, $5, $6, $7, $8, $9) FROM (SELECT {AFTER_COMMIT}) quiet
"""
SEQUENCE = "SELECT agent_events_sequence()"
TAIL = "SELECT coalesce(max(seq), 0) FROM agent_event_offsets"
# A page scans at most WINDOW offsets (an index range on seq), so a filter that matches rarely answers
# as fast as one that matches everything; the page's ``next`` says how far it scanned.
WINDOW = 10_000
MAX_SEQ = 2**63 - 1
# A page of events after a cursor ($1) up to a seq ($6), with the tail; ``where`` picks the offsets.
READ_PAGE = """
WITH page AS (
    SELECT o.seq, e.id, e.source_agent_id, e.source_agent_type, e.event_type, e.payload, e.target_agent_ids,
           e.correlation_id, e.created_at
    FROM agent_event_offsets o
    CROSS JOIN LATERAL (  -- one primary-key lookup per offset in seq order (LIMIT keeps it a lookup)
        SELECT * FROM agent_events e
        WHERE e.id = o.event_id
          AND ($2::text IS NULL OR e.target_agent_ids @> ARRAY[$2] OR coalesce(cardinality(e.target_agent_ids), 0) = 0)
          AND ($3::text IS NULL OR e.event_type = $3)
          AND ($4::uuid IS NULL OR e.correlation_id = $4)
        LIMIT 1
    ) e
    WHERE {where} o.seq > $1 AND o.seq <= $6
    ORDER BY o.seq
    LIMIT $5
)
SELECT t.tail, page.*
FROM (SELECT coalesce(max(seq), 0) AS tail FROM agent_event_offsets) t
LEFT JOIN page ON true
ORDER BY page.seq
"""
READ_AFTER = READ_PAGE.format(where="")
# With a type or a correlation id, the same page through the offsets' own copy of the value
# (1080_offsets_by_type_and_correlation.sql): an index range on (value, seq), then one primary-key lookup
# per offset for the rest of the filter and the row itself. The value's test (texteq, uuid_eq) is
# leakproof, so it stays an index condition under row level security. One statement per column, so each
# cached plan keeps its index.
READ_SELECTIVE = {
    col: READ_PAGE.format(where=f"o.{col} = {arg} AND")
    for col, arg in (("correlation_id", "$4::uuid"), ("event_type", "$3::text"))
}
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

    @functools.cached_property
    def json_bytes(self) -> bytes:
        """The event as compact JSON, encoded once however many streams send it."""
        return json.dumps(self.as_json(), separators=(",", ":"), default=str).encode()

    @functools.cached_property
    def sse_bytes(self) -> bytes:
        """The event as one Server-Sent Events message (``id:`` is its seq), built once for every stream."""
        name = self.event_type.replace("\r", " ").replace("\n", " ")
        return f"id: {self.seq}\nevent: {name}\ndata: ".encode() + self.json_bytes + b"\n\n"

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


async def publish_as(
    conn: asyncpg.Connection | asyncpg.Pool,
    role: str,
    claims: str,
    event_id: uuid.UUID,
    event_type: str,
    payload: dict[str, Any],
    *,
    source_agent_id: str,
    source_agent_type: str,
    targets: Sequence[str] = (),
    correlation_id: uuid.UUID | None = None,
) -> None:
    """Insert and commit an event as ``role`` with its JWT ``claims`` (row level security applies) in one
    round trip. Outside a transaction only: it is a transaction of its own."""
    await conn.execute(
        PUBLISH_AS,
        role,
        claims,
        event_id,
        source_agent_id,
        source_agent_type,
        event_type,
        payload,
        list(targets),
        correlation_id,
    )


@dataclass(frozen=True)
class Page:
    events: list[Event]
    next: int  # the highest seq scanned (matched or not): the cursor to pass next
    tail: int  # the highest seq there was when it was read


@dataclass(frozen=True)
class Filter:
    """What a reader asked for, applied in memory by the fan-out exactly as READ_AFTER applies it."""

    target: str | None = None
    event_type: str | None = None
    correlation_id: uuid.UUID | None = None

    def matches(self, event: Event) -> bool:
        return (
            (self.target is None or not event.target_agent_ids or self.target in event.target_agent_ids)
            and (self.event_type is None or event.event_type == self.event_type)
            and (self.correlation_id is None or event.correlation_id == self.correlation_id)
        )


# The roles the seed's RLS policies on agent_events let read every row (0004_row_level_security.sql:
# "All authenticated users can read agent events", "Service role full access to agent events"); any
# other role reads none. The shared reader reads as the owner and applies this per stream.
READERS = frozenset({"authenticated", "service_role"})


def visible_to(role: str) -> bool:
    """Whether RLS on agent_events lets ``role`` read its rows (all of them, or none)."""
    return role in READERS


async def sequence(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    """Number the committed events that have no seq yet; the highest seq. Outside a transaction only:
    its lock is held until the caller's transaction ends."""
    return int(await conn.fetchval(SEQUENCE))


async def tail(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    return int(await conn.fetchval(TAIL))


EVENT_FIELDS = tuple(Event.__dataclass_fields__)


async def page_after(
    conn: asyncpg.Connection | asyncpg.Pool,
    after: int,
    where: Filter = Filter(),
    *,
    limit: int = 100,
    window: int = WINDOW,
) -> Page:
    """Matching events after ``after`` in seq order, scanning at most ``window`` seqs. ``next`` is the
    last seq scanned: a full page's last event, else the end of the window or the tail (read in the same
    statement), whichever is lower."""
    end = min(after + window, MAX_SEQ)
    args = (after, where.target, where.event_type, where.correlation_id, limit, end)
    if where.correlation_id is not None:
        rows = await conn.fetch(READ_SELECTIVE["correlation_id"], *args)
    elif where.event_type is not None:
        rows = await conn.fetch(READ_SELECTIVE["event_type"], *args)
    else:
        rows = await conn.fetch(READ_AFTER, *args)
    top = int(rows[0]["tail"])
    events = [Event(**{k: r[k] for k in EVENT_FIELDS}) for r in rows if r["seq"] is not None]
    if len(events) == limit:
        return Page(events, events[-1].seq, top)
    return Page(events, max(after, min(end, top)), top)


async def read_after(
    conn: asyncpg.Connection | asyncpg.Pool,
    after: int = 0,
    *,
    target: str | None = None,
    event_type: str | None = None,
    correlation_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[Event]:
    """Up to ``limit`` events after offset ``after`` in commit order, however far apart; ``target`` sees
    its own and broadcasts. Run by the owner outside a transaction, it first numbers what has committed
    (so a caller sees its own publishes at once)."""
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as own:
            return await read_after(
                own, after, target=target, event_type=event_type, correlation_id=correlation_id, limit=limit
            )
    if not conn.is_in_transaction():
        await sequence(conn)
    where = Filter(target, event_type, correlation_id)
    events: list[Event] = []
    while True:
        page = await page_after(conn, after, where, limit=limit - len(events))
        events += page.events
        if len(events) >= limit or page.next >= page.tail:
            return events
        after = page.next


async def get(conn: asyncpg.Connection | asyncpg.Pool, event_id: uuid.UUID) -> Event:
    """One event with its offset, once the sequencer has numbered it."""
    r = await conn.fetchrow(GET_ONE, event_id)
    if r is None:
        raise LookupError(f"no event {event_id}")
    return Event(**{k: r[k] for k in r.keys()})
