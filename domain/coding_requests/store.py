"""Coding requests: filed once per origin, moved along their lifecycle by guarded single statements.

Every status change is emitted on the bus (``coding_request.updated``) and told to the requester through
the outbox (a reply in the shortcut's thread, else a DM), in the transaction of the change; the
deliveries themselves are in ``domain.coding_requests.outbound``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

import logs
from domain import settings
from domain.bus import events as bus
from domain.coding_requests.outbound import NOTIFY, PR_FILES
from domain.coding_requests.rules import (
    OPEN,
    Changes,
    CodingRequest,
    NewRequest,
    PullRequestFact,
    SlackOrigin,
    Status,
    TransitionRefused,
    confirmation_text,
    fact_sources_for,
    linkable,
    sources_for,
    status_change_text,
)
from jobs import outbox

REPOSITORIES_KEY = "coding_requests.repositories"
CREATED = "coding_request.created"
UPDATED = "coding_request.updated"
DEFAULT_AGENT = "coding-agent"

COLUMNS = """id, request_number, source, source_id, source_url, title, description, request_type, priority,
estimated_complexity, status, implementation_plan, files_to_create, files_to_modify, test_files, branch_name,
pr_number, pr_url, pr_status, assigned_agent, requested_by_id, requested_by_name, requested_by_email,
created_at, updated_at, started_at, completed_at"""
C_COLUMNS = ", ".join(f"c.{c.strip()}" for c in COLUMNS.split(","))

INSERT = f"""
INSERT INTO coding_requests (source, source_id, source_url, title, description, request_type, priority,
                             assigned_agent, requested_by_id, requested_by_name, requested_by_email)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11
WHERE NOT EXISTS (SELECT 1 FROM coding_requests WHERE source = $1 AND source_id = $2)
ON CONFLICT (source, source_id) DO NOTHING
RETURNING {COLUMNS}
"""
BY_SOURCE = f"SELECT {COLUMNS} FROM coding_requests WHERE source = $1 AND source_id = $2"
BY_NUMBER = f"SELECT {COLUMNS} FROM coding_requests WHERE request_number = $1"
BY_ID = f"SELECT {COLUMNS} FROM coding_requests WHERE id = $1"
# One statement per filter combination (no "($1 IS NULL OR ...)", which leaves a prepared statement's
# generic plan only a scan): coding_requests_status_page_idx or coding_requests_page_idx, keyset-paged.
# RLS prices its per-row qual at 0.5%: without this a deep page is a bitmap scan and sort of every match.
INDEX_PLANS = "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)"
LIST_ORDER = "ORDER BY created_at DESC, request_number DESC"
BEFORE = "(created_at, request_number) < ($1::timestamptz, $2::int)"
LIST = {
    (False, False): f"SELECT {COLUMNS} FROM coding_requests {LIST_ORDER} LIMIT $1",
    (True, False): f"SELECT {COLUMNS} FROM coding_requests WHERE status = $1 {LIST_ORDER} LIMIT $2",
    (False, True): f"SELECT {COLUMNS} FROM coding_requests WHERE {BEFORE} {LIST_ORDER} LIMIT $3",
    (True, True): f"""SELECT {COLUMNS} FROM coding_requests
WHERE status = $3 AND {BEFORE} {LIST_ORDER} LIMIT $4""",
}
OPEN_FOR_REQUESTER = f"""
SELECT {COLUMNS} FROM coding_requests
WHERE requested_by_id = $1 AND status = ANY($2::text[])
ORDER BY created_at DESC
LIMIT $3
"""
# One statement: the row is locked, its previous status kept, and the status guard re-checked on the
# latest version, so two concurrent moves cannot both pass.
UPDATE = f"""
WITH old AS (SELECT id, status AS previous_status FROM coding_requests WHERE request_number = $1 FOR UPDATE)
UPDATE coding_requests c SET
    status = COALESCE($2, c.status),
    started_at = CASE WHEN $2 = 'in_progress' THEN COALESCE(c.started_at, now()) ELSE c.started_at END,
    completed_at = CASE WHEN $2 = 'completed' THEN COALESCE(c.completed_at, now()) ELSE c.completed_at END,
    estimated_complexity = COALESCE($4, c.estimated_complexity),
    implementation_plan = COALESCE($5::jsonb, c.implementation_plan),
    files_to_create = COALESCE($6::text[], c.files_to_create),
    files_to_modify = COALESCE($7::text[], c.files_to_modify),
    test_files = COALESCE($8::text[], c.test_files),
    branch_name = COALESCE($9, c.branch_name)
FROM old
WHERE c.id = old.id AND ($2::text IS NULL OR c.status = $2 OR c.status = ANY($3::text[]))
RETURNING {C_COLUMNS}, old.previous_status
"""
LINK_OPENED = f"""
WITH hit AS (
    SELECT id, status AS previous_status FROM coding_requests
    WHERE branch_name = $1 OR request_number = ANY($2::int[])
    FOR UPDATE
)
UPDATE coding_requests c SET
    pr_number = $3, pr_url = $4, pr_status = 'open', branch_name = COALESCE(c.branch_name, $1),
    status = CASE WHEN c.status = ANY($5::text[]) THEN 'in_review' ELSE c.status END
FROM hit
WHERE c.id = hit.id
RETURNING {C_COLUMNS}, hit.previous_status
"""
LINK_MERGED = f"""
WITH hit AS (
    SELECT id, status AS previous_status FROM coding_requests
    WHERE branch_name = $1 OR request_number = ANY($2::int[])
    FOR UPDATE
)
UPDATE coding_requests c SET
    pr_number = $3, pr_url = $4, pr_status = 'merged', branch_name = COALESCE(c.branch_name, $1),
    status = CASE WHEN c.status = ANY($5::text[]) THEN 'completed' ELSE c.status END,
    completed_at = CASE WHEN c.status = ANY($5::text[]) OR c.status = 'completed'
                        THEN COALESCE(c.completed_at, now()) ELSE c.completed_at END
FROM hit
WHERE c.id = hit.id
RETURNING {C_COLUMNS}, hit.previous_status
"""
LINK_CLOSED = f"""
WITH hit AS (
    SELECT id, status AS previous_status FROM coding_requests
    WHERE (branch_name = $1 OR request_number = ANY($2::int[])) AND (pr_number IS NULL OR pr_number = $3)
    FOR UPDATE
)
UPDATE coding_requests c SET
    pr_number = $3, pr_url = $4, pr_status = 'closed', branch_name = COALESCE(c.branch_name, $1)
FROM hit
WHERE c.id = hit.id
RETURNING {C_COLUMNS}, hit.previous_status
"""
STATUS_OF = "SELECT status FROM coding_requests WHERE request_number = $1"


class NotFound(LookupError):
    pass


def _row(record: asyncpg.Record) -> CodingRequest:
    return CodingRequest(**{k: record[k] for k in CodingRequest.__dataclass_fields__})


def _event_payload(req: CodingRequest, previous: str | None = None) -> dict[str, Any]:
    """What the bus carries: ids and states only. Every ``authenticated`` token reads the bus, while the seed
    keeps ``coding_requests`` to ``service_role``: the agent fetches the title, description, requester,
    branch and links with ``GET /api/v1/coding-requests/{request_number}``."""
    payload: dict[str, Any] = {
        "id": str(req.id),
        "request_number": req.request_number,
        "status": req.status,
        "source": req.source,
        "request_type": req.request_type,
        "priority": req.priority,
        "pr_number": req.pr_number,
        "pr_status": req.pr_status,
    }
    if previous is not None:
        payload["previous_status"] = previous
    return payload


async def _tell_requester(conn: asyncpg.Connection, req: CodingRequest, text: str, dedupe_key: str | None) -> None:
    """Queue a Slack message to whoever filed ``req`` from Slack (thread reply for a shortcut, else a DM)."""
    if req.source != "slack" or not req.requested_by_id:
        return
    origin = SlackOrigin.from_source_id(req.source_id)
    payload = {"user": req.requested_by_id, "channel": origin.channel, "thread_ts": origin.thread_ts, "text": text}
    await outbox.enqueue(conn, NOTIFY, payload, dedupe_key=dedupe_key)


async def create(conn: asyncpg.Connection, new: NewRequest) -> tuple[CodingRequest, bool]:
    """File a request once per (source, source_id): (the row, True) when new, (the existing row, False)."""
    agent = await settings.get(conn, "coding_requests.assigned_agent", DEFAULT_AGENT)
    record = await conn.fetchrow(
        INSERT,
        new.source,
        new.source_id,
        new.source_url,
        new.title,
        new.description,
        new.request_type.value,
        new.priority.value,
        agent,
        new.requested_by_id,
        new.requested_by_name,
        new.requested_by_email,
    )
    if record is None:
        existing = await conn.fetchrow(BY_SOURCE, new.source, new.source_id)
        return _row(existing), False
    req = _row(record)
    await bus.publish(conn, CREATED, _event_payload(req), targets=[req.assigned_agent or agent], correlation_id=req.id)
    await _tell_requester(
        conn, req, confirmation_text(req.request_number, req.title), f"coding_request.confirm:{req.id}"
    )
    logs.event("coding_request.created", number=req.request_number, source=req.source)
    return req, True


async def get(conn: asyncpg.Connection, number: int) -> CodingRequest | None:
    record = await conn.fetchrow(BY_NUMBER, number)
    return _row(record) if record else None


async def get_by_id(conn: asyncpg.Connection | asyncpg.Pool, request_id: uuid.UUID) -> CodingRequest | None:
    record = await conn.fetchrow(BY_ID, request_id)
    return _row(record) if record else None


async def list_requests(
    conn: asyncpg.Connection,
    status: Status | None = None,
    limit: int = 100,
    before: tuple[datetime, int] | None = None,
) -> list[CodingRequest]:
    """Newest first; rows before ``before`` (created_at, request_number) when given. Call in a transaction
    (it sets the planner settings of the list for it)."""
    given: list[Any] = [*before] if before is not None else []
    if status is not None:
        given.append(status.value)
    sql = LIST[(status is not None, before is not None)]
    await conn.execute(INDEX_PLANS)
    return [_row(r) for r in await conn.fetch(sql, *given, limit)]


async def open_for_requester(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: str, limit: int = 20
) -> list[CodingRequest]:
    return [_row(r) for r in await conn.fetch(OPEN_FOR_REQUESTER, user_id, sorted(OPEN), limit)]


async def apply_changes(conn: asyncpg.Connection, number: int, changes: Changes) -> tuple[CodingRequest, str]:
    """The agent's PATCH as one guarded statement: (the row, its previous status).
    NotFound, or TransitionRefused naming the refused move. Announce with ``announce_change``."""
    target = changes.status
    record = await conn.fetchrow(
        UPDATE,
        number,
        target.value if target else None,
        sources_for(target) if target else [],
        changes.estimated_complexity,
        changes.implementation_plan,
        changes.files_to_create,
        changes.files_to_modify,
        changes.test_files,
        changes.branch_name,
    )
    if record is None:
        current = await conn.fetchval(STATUS_OF, number)
        if current is None or target is None:
            raise NotFound(f"no coding request #{number}")
        raise TransitionRefused(number, Status(current), target)
    return _row(record), record["previous_status"]


async def announce_change(conn: asyncpg.Connection, req: CodingRequest, previous: str) -> None:
    """When the status changed: ``coding_request.updated`` on the bus and a message to the requester."""
    if req.status == previous:
        return
    await bus.publish(
        conn,
        UPDATED,
        _event_payload(req, previous),
        targets=[req.assigned_agent or DEFAULT_AGENT],
        correlation_id=req.id,
    )
    text = status_change_text(req.request_number, req.title, req.status, req.pr_url)
    await _tell_requester(conn, req, text, None)
    logs.event("coding_request.status", number=req.request_number, previous=previous, status=req.status)


async def change(conn: asyncpg.Connection, number: int, changes: Changes) -> CodingRequest:
    """``apply_changes`` then ``announce_change``, in the caller's transaction."""
    req, previous = await apply_changes(conn, number, changes)
    await announce_change(conn, req, previous)
    return req


async def follow_pull_request(conn: asyncpg.Connection, fact: PullRequestFact) -> list[CodingRequest]:
    """Link the requests a pull request belongs to (by branch name or ``cr-<n>``, as far as the
    ``coding_requests.repositories`` allow-list lets it: ``rules.linkable``) and move them."""
    if fact.action not in ("opened", "draft", "merged", "closed"):
        raise ValueError(f"unknown pull request fact {fact.action!r}")
    branch, refs = linkable(fact, await settings.get(conn, REPOSITORIES_KEY, []))
    ignored = sorted(set(fact.references) - set(refs))
    if ignored or (branch is None and fact.branch):
        logs.event(
            "coding_request.pull_request_restricted",
            repo=fact.repo,
            head_repo=fact.head_repo,
            pr=fact.number,
            action=fact.action,
            by_branch=branch is not None,
            ignored_references=ignored,
        )
    if branch is None and not refs:
        return []
    if fact.action in ("opened", "draft"):
        moves_from = fact_sources_for(Status.IN_REVIEW) if fact.action == "opened" else []
        rows = await conn.fetch(LINK_OPENED, branch, refs, fact.number, fact.url, moves_from)
    elif fact.action == "merged":
        rows = await conn.fetch(LINK_MERGED, branch, refs, fact.number, fact.url, fact_sources_for(Status.COMPLETED))
    else:
        rows = await conn.fetch(LINK_CLOSED, branch, refs, fact.number, fact.url)
    linked = []
    for record in rows:
        req = _row(record)
        linked.append(req)
        await announce_change(conn, req, record["previous_status"])
        if fact.action == "merged" and not (req.files_to_create or req.files_to_modify):
            await outbox.enqueue(
                conn,
                PR_FILES,
                {"request_id": str(req.id), "repo": fact.repo, "pr_number": fact.number},
                dedupe_key=f"{PR_FILES}:{req.id}:{fact.repo}#{fact.number}",
            )
        logs.event("coding_request.pull_request", number=req.request_number, pr=fact.number, action=fact.action)
    return linked
