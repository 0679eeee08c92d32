"""Approval requests: create, decide, cancel, expire — each a single SQL statement settled by the database.

Closing a request (decision, expiry, cancel) happens in one transaction with everything that follows
from it: the continuation event on the bus (which wakes the waiting agent), an ``agent_actions`` audit
row, a NOTIFY on ``approvals`` for long-polls, and outbox entries that update the Slack message and
reply in its thread.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import asyncpg

from db import connect
from domain import settings
from domain.approvals import voting
from domain.approvals.extras import Extras, extras, insert_extras
from domain.approvals.policy import quorum_for
from domain.approvals.rules import Approval, Decision, NewApproval, continuation, continuation_event_type
from domain.bus import events as bus
from jobs import outbox, scheduler

QUORUM_KEY = "approvals.quorum"
MEMORY_KEY = "approvals.rejection_memory"
MEMORY_DECIDER = "api:rejection-memory"

NOTIFY_CHANNEL = "approvals"
COLUMNS = """id, agent_name, action_type, action_details, risk_level, status, slack_channel_id, slack_message_ts,
    slack_thread_ts, resolved_by, resolved_at, rejection_reason, continuation_event_type, continuation_payload,
    expires_at, created_at, updated_at"""

IDENTICAL = "agent_name = $1 AND action_type = $2 AND md5(action_details::text) = md5($3::jsonb::text)"
# The unique partial index approval_requests_pending_identical_idx settles two identical requests racing.
INSERT = f"""
INSERT INTO approval_requests (agent_name, action_type, action_details, risk_level, continuation_event_type,
                               continuation_payload, slack_channel_id, slack_thread_ts, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))
ON CONFLICT (agent_name, action_type, md5(action_details::text)) WHERE status = 'pending' DO NOTHING
RETURNING {COLUMNS}
"""
PENDING_IDENTICAL = f"SELECT {COLUMNS} FROM approval_requests WHERE {IDENTICAL} AND status = 'pending'"
EXPIRE_IDENTICAL = f"""
UPDATE approval_requests SET status = 'expired', resolved_at = now()
WHERE {IDENTICAL} AND status = 'pending' AND expires_at <= now()
RETURNING {COLUMNS}
"""
REMEMBERED_REJECTION = f"""
SELECT id, rejection_reason, resolved_at FROM approval_requests
WHERE {IDENTICAL} AND status = 'rejected' AND resolved_by IS DISTINCT FROM '{MEMORY_DECIDER}'
  AND resolved_at > now() - make_interval(secs => $4)
ORDER BY resolved_at DESC LIMIT 1
"""
INSERT_REJECTED = f"""
INSERT INTO approval_requests (agent_name, action_type, action_details, risk_level, continuation_event_type,
                               continuation_payload, slack_channel_id, slack_thread_ts, expires_at, status,
                               resolved_by, resolved_at, rejection_reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9), 'rejected', '{MEMORY_DECIDER}',
        now(), $10)
RETURNING {COLUMNS}
"""
GET = f"SELECT {COLUMNS} FROM approval_requests WHERE id = $1"
PENDING = f"""
SELECT {COLUMNS} FROM approval_requests
WHERE status = 'pending' AND expires_at > now()
ORDER BY created_at
LIMIT $1
"""
CANCEL = f"""
UPDATE approval_requests
SET status = 'cancelled', resolved_by = $2, resolved_at = now(), rejection_reason = $3
WHERE id = $1 AND status = 'pending'
RETURNING {COLUMNS}
"""
EXPIRE = f"""
UPDATE approval_requests
SET status = 'expired', resolved_at = now()
WHERE id IN (
    SELECT id FROM approval_requests
    WHERE status = 'pending' AND expires_at <= now()
    ORDER BY expires_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
) AND status = 'pending'
RETURNING {COLUMNS}
"""
POSTED = f"""
UPDATE approval_requests SET slack_channel_id = $2, slack_message_ts = $3, slack_thread_ts = $4
WHERE id = $1
RETURNING {COLUMNS}
"""
AUDIT = """
INSERT INTO agent_actions (agent_name, action_type, action_category, input_context, output_result, success,
                           requires_approval, approval_status, approved_by, approved_at)
VALUES ($1, $2, 'approval', $3, $4, true, true, $5, $6, $7)
"""
NOTIFY = "SELECT pg_notify($1, $2)"
LOCK_FOR_VOTE, LOCK_FOR_VOTE_QUIET, VOTE = voting.statements(COLUMNS)
# The outbox is internal (the API roles have no grants on it): when a request's transaction runs as the
# caller's role for row level security, what follows its checked change runs as the service's owner.


def _approval(row: asyncpg.Record) -> Approval:
    return Approval(**{k: row[k] for k in row.keys()})


class Vote(StrEnum):
    """What became of one person's vote."""

    DECIDED = "decided"  # it closed the request (the quorum's last approval, or a reject)
    COUNTED = "counted"  # recorded; more approvals are needed
    DUPLICATE = "duplicate"  # this person had voted already
    SELF = "self"  # the requester may not vote on their own request
    CLOSED = "closed"  # the request was no longer open


@dataclass(frozen=True)
class Outcome:
    """The result of a decision: ``won`` when this call closed the request, else the row as it stands."""

    won: bool
    approval: Approval | None
    vote: Vote = Vote.CLOSED


@dataclass(frozen=True)
class Created:
    """``create``'s answer: the row, and whether it is new (else an identical pending one)."""

    approval: Approval
    created: bool


def _args(new: NewApproval) -> list[Any]:
    return [
        new.agent_name,
        new.action_type,
        new.action_details,
        new.risk_level.value,
        new.continuation_event_type,
        new.continuation_payload,
        new.channel,
        new.thread_ts,
        float(new.expires_in_s),
    ]


async def create(conn: asyncpg.Connection, new: NewApproval) -> Approval:
    """``submit``'s row: the new request, the identical pending one, or the one rejected by memory."""
    return (await submit(conn, new)).approval


async def submit(conn: asyncpg.Connection, new: NewApproval) -> Created:
    """Insert the request in the caller's transaction; the database queues its Slack message (trigger 0201).

    An identical request pending already is answered instead of a second one; one rejected within
    ``approvals.rejection_memory`` makes this one rejected at once, naming the earlier decision."""
    key = (new.agent_name, new.action_type, new.action_details)
    memory = await settings.get(conn, MEMORY_KEY, {"seconds": 86400})
    memory_s = float(memory.get("seconds", 0)) if isinstance(memory, dict) else 0.0
    earlier = await conn.fetchrow(REMEMBERED_REJECTION, *key, memory_s) if memory_s > 0 else None
    if earlier is not None:
        reason = f"An identical request ({earlier['id']}) was rejected {earlier['resolved_at']:%Y-%m-%d %H:%M UTC}"
        reason += f": {earlier['rejection_reason']}" if earlier["rejection_reason"] else "."
        approval = _approval(await conn.fetchrow(INSERT_REJECTED, *_args(new), reason))
        await connect.as_owner(conn)
        await insert_extras(conn, approval.id, new, remembered_from=earlier["id"])
        await _closed(conn, approval, Decision.REJECTED, by=MEMORY_DECIDER, reason=reason, slack=False)
        return Created(approval, True)
    for _ in range(3):
        stale = await conn.fetch(EXPIRE_IDENTICAL, *key)
        row = await conn.fetchrow(INSERT, *_args(new))
        if stale or (row and new.has_extras):
            await connect.as_owner(conn)
        for expired in stale:
            await _closed(
                conn, _approval(expired), Decision.EXPIRED, by=None, reason="nobody decided before it expired"
            )
        if row is not None:
            approval = _approval(row)
            if new.has_extras:
                await insert_extras(conn, approval.id, new, remembered_from=None)
            return Created(approval, True)
        found = await conn.fetchrow(PENDING_IDENTICAL, *key)
        if found is not None:
            return Created(_approval(found), False)
    raise RuntimeError("an identical request kept changing while this one was being created")


async def get(conn: asyncpg.Connection | asyncpg.Pool, approval_id: uuid.UUID) -> Approval | None:
    row = await conn.fetchrow(GET, approval_id)
    return _approval(row) if row else None


async def pending(conn: asyncpg.Connection | asyncpg.Pool, limit: int = 100) -> list[Approval]:
    """Undecided, unexpired requests, oldest first."""
    return [_approval(row) for row in await conn.fetch(PENDING, limit)]


async def decide(
    conn: asyncpg.Connection,
    approval_id: uuid.UUID,
    decision: Decision,
    *,
    by: str,
    reason: str | None = None,
    edited_details: dict[str, Any] | None = None,
    reject_option: str | None = None,
    announce_after_commit: bool = False,
) -> Outcome:
    """One person's vote, from pending and not expired; call inside a transaction. With
    ``announce_after_commit`` the transaction sends no NOTIFY: the caller announces the vote after its
    commit (``approvals`` with the id, ``outbox``, ``agent_events``: db/listen.py Hub.announce).

    A reject rejects; approvals close the request once ``approvals.quorum`` distinct people approved.
    The requester never votes; a second vote of the same person counts once (the votes' primary key)."""
    if decision not in (Decision.APPROVED, Decision.REJECTED):
        raise ValueError(f"a person decides approved or rejected, not {decision}")
    locked = await conn.fetchrow(LOCK_FOR_VOTE_QUIET if announce_after_commit else LOCK_FOR_VOTE, approval_id)
    if locked is None:
        return Outcome(False, await get(conn, approval_id), Vote.CLOSED)
    approval = _approval({k: locked[k] for k in locked.keys() if k not in ("requested_by", "quorum", "set_config")})
    if locked["requested_by"] == by:
        return Outcome(False, approval, Vote.SELF)
    approve = decision == Decision.APPROVED
    needed = quorum_for(locked["quorum"], approval.risk) if approve else 1
    row = await conn.fetchrow(
        VOTE,
        approval_id,
        by,
        "approve" if approve else "reject",
        edited_details,
        reject_option,
        needed,
        decision.value,
        reason,
        bus.SERVICE_AGENT_ID,
    )
    if row["cast"] is None:
        return Outcome(False, approval, Vote.DUPLICATE)
    if row["d_id"] is None:
        if approve and row["approvals"] < needed:
            return Outcome(False, approval, Vote.COUNTED)
        return Outcome(False, await get(conn, approval_id), Vote.CLOSED)  # only were the row lock missing
    decided = _approval({k[2:]: row[k] for k in row.keys() if k.startswith("d_")})
    assert decided.resolved_at is not None
    kept = Extras(
        edited_details=row["kept_edit"], reject_option=row["kept_option"], remembered_from=row["remembered_from"]
    )
    payload = continuation(
        decided.continuation_payload,
        approval_id=str(decided.id),
        decision=decision,
        decided_at=decided.resolved_at,
        extra=kept.continuation_extra(),
    )
    await bus.publish(
        conn,
        continuation_event_type(decided.continuation_event_type),
        payload,
        targets=[decided.agent_name],
        correlation_id=decided.id,
    )
    return Outcome(True, decided, Vote.DECIDED)


async def cancel(conn: asyncpg.Connection, approval_id: uuid.UUID, *, by: str, reason: str | None) -> Outcome:
    """Withdraw a pending request (the agent no longer needs it). Call inside a transaction."""
    row = await conn.fetchrow(CANCEL, approval_id, by, reason)
    if row is None:
        return Outcome(False, await get(conn, approval_id))
    approval = _approval(row)
    await connect.as_owner(conn)
    await _closed(conn, approval, Decision.CANCELLED, by=by, reason=reason)
    return Outcome(True, approval)


async def expire_due(pool: asyncpg.Pool, batch: int = 200) -> list[Approval]:
    """Turn pending requests past their deadline into ``expired`` (the job; any replica, one effect)."""
    expired: list[Approval] = []
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(EXPIRE, batch)
            for row in rows:
                approval = _approval(row)
                await _closed(conn, approval, Decision.EXPIRED, by=None, reason="nobody decided before it expired")
                expired.append(approval)
        if len(rows) < batch:
            return expired


async def mark_posted(
    conn: asyncpg.Connection | asyncpg.Pool, approval_id: uuid.UUID, channel: str, message_ts: str, thread_ts: str
) -> Approval | None:
    row = await conn.fetchrow(POSTED, approval_id, channel, message_ts, thread_ts)
    return _approval(row) if row else None


def _key(approval: Approval, what: str) -> str:
    return f"approval:{approval.id}:{what}"


async def _closed(
    conn: asyncpg.Connection,
    approval: Approval,
    decision: Decision,
    *,
    by: str | None,
    reason: str | None,
    slack: bool = True,
) -> None:
    assert approval.resolved_at is not None
    approval_id = str(approval.id)
    payload = continuation(
        approval.continuation_payload,
        approval_id=approval_id,
        decision=decision,
        decided_at=approval.resolved_at,
        extra=(await extras(conn, approval.id)).continuation_extra(),
    )
    await bus.publish(
        conn,
        continuation_event_type(approval.continuation_event_type),
        payload,
        targets=[approval.agent_name],
        correlation_id=approval.id,
    )
    context: dict[str, Any] = {
        "approval_id": approval_id,
        "requested_by": approval.agent_name,
        "action_type": approval.action_type,
        "risk_level": approval.risk_level,
    }
    approved = decision == Decision.APPROVED
    await conn.execute(
        AUDIT,
        bus.SERVICE_AGENT_ID,
        f"approval.{decision.value}",
        context,
        {"decision": decision.value, "decided_by": by, "reason": reason},
        decision.value,
        by if approved else None,
        approval.resolved_at if approved else None,
    )
    if slack:
        await outbox.enqueue(
            conn, "slack.approval.update", {"approval_id": approval_id}, dedupe_key=_key(approval, "update")
        )
        await outbox.enqueue(
            conn, "slack.approval.reply", {"approval_id": approval_id}, dedupe_key=_key(approval, "reply")
        )
    await conn.execute(NOTIFY, NOTIFY_CHANNEL, approval_id)


EXPIRE_JOB = scheduler.Job("approvals.expire", 10.0, expire_due)
