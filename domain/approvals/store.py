"""Approval requests: create, decide, cancel, expire — each a single SQL statement settled by the database.

Closing a request (decision, expiry, cancel) happens in one transaction with everything that follows
from it: the continuation event on the bus (which wakes the waiting agent), an ``agent_actions`` audit
row, a NOTIFY on ``approvals`` for long-polls, and outbox entries that update the Slack message and
reply in its thread.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from db import connect
from domain.approvals.rules import Approval, Decision, NewApproval, continuation, continuation_event_type
from domain.bus import events as bus
from jobs import outbox, scheduler

NOTIFY_CHANNEL = "approvals"
COLUMNS = """id, agent_name, action_type, action_details, risk_level, status, slack_channel_id, slack_message_ts,
    slack_thread_ts, resolved_by, resolved_at, rejection_reason, continuation_event_type, continuation_payload,
    expires_at, created_at, updated_at"""

INSERT = f"""
INSERT INTO approval_requests (agent_name, action_type, action_details, risk_level, continuation_event_type,
                               continuation_payload, slack_channel_id, slack_thread_ts, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))
RETURNING {COLUMNS}
"""
GET = f"SELECT {COLUMNS} FROM approval_requests WHERE id = $1"
PENDING = f"""
SELECT {COLUMNS} FROM approval_requests
WHERE status = 'pending' AND expires_at > now()
ORDER BY created_at
LIMIT $1
"""
# A person's decision in one statement: the guarded UPDATE, its audit row and the NOTIFY that wakes the
# long-polls (delivered at commit). The outbox rows and the continuation event follow in the transaction.
DECIDE = f"""
WITH decided AS (
    UPDATE approval_requests
    SET status = $2, resolved_by = $3, resolved_at = now(), rejection_reason = $4
    WHERE id = $1 AND status = 'pending' AND expires_at > now()
    RETURNING {COLUMNS}
), audit AS (
    INSERT INTO agent_actions (agent_name, action_type, action_category, input_context, output_result, success,
                               requires_approval, approval_status, approved_by, approved_at)
    SELECT $5, 'approval.' || $2, 'approval',
           jsonb_build_object('approval_id', id::text, 'requested_by', agent_name, 'action_type', action_type,
                              'risk_level', risk_level),
           jsonb_build_object('decision', $2::text, 'decided_by', $3::text, 'reason', $4::text),
           true, true, $2, CASE WHEN $2 = 'approved' THEN $3 END, CASE WHEN $2 = 'approved' THEN resolved_at END
    FROM decided
)
SELECT decided.*, pg_notify('{NOTIFY_CHANNEL}', decided.id::text)::text AS notified FROM decided
"""
# What a click needs before it decides, in one round trip: the request and the approvers setting.
FOR_CLICK = f"""
SELECT {COLUMNS}, (SELECT config_value FROM agent_swarm_config WHERE config_key = $2) AS approvers
FROM approval_requests WHERE id = $1
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
# The outbox is internal (the API roles have no grants on it): when a request's transaction runs as the
# caller's role for row level security, what follows its checked change runs as the service's owner.


def _approval(row: asyncpg.Record) -> Approval:
    return Approval(**{k: row[k] for k in row.keys() if k not in EXTRA})


EXTRA = frozenset({"notified", "approvers"})


@dataclass(frozen=True)
class Outcome:
    """The result of a decision: ``won`` when this call closed the request, else the row as it stands."""

    won: bool
    approval: Approval | None


async def create(conn: asyncpg.Connection, new: NewApproval) -> Approval:
    """Insert the request in the caller's transaction; the database queues its Slack message."""
    row = await conn.fetchrow(
        INSERT,
        new.agent_name,
        new.action_type,
        new.action_details,
        new.risk_level.value,
        new.continuation_event_type,
        new.continuation_payload,
        new.channel,
        new.thread_ts,
        float(new.expires_in_s),
    )
    # Its Slack message is queued by a trigger (migration 0201), as for a row an agent inserts directly.
    return _approval(row)


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
) -> Outcome:
    """Approve or reject, once: from pending and not expired. Call inside a transaction."""
    if decision not in (Decision.APPROVED, Decision.REJECTED):
        raise ValueError(f"a person decides approved or rejected, not {decision}")
    row = await conn.fetchrow(DECIDE, approval_id, decision.value, by, reason, bus.SERVICE_AGENT_ID)
    if row is None:
        return Outcome(False, await get(conn, approval_id))
    approval = _approval(row)
    await _follow_up(conn, approval, decision, by=by, reason=reason)
    return Outcome(True, approval)


async def for_click(
    conn: asyncpg.Connection | asyncpg.Pool, approval_id: uuid.UUID, approvers_key: str
) -> tuple[Approval | None, Any]:
    """The request (None when unknown) and the value of the approvers setting (None when unset)."""
    row = await conn.fetchrow(FOR_CLICK, approval_id, approvers_key)
    return (_approval(row), row["approvers"]) if row else (None, None)


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
    conn: asyncpg.Connection, approval: Approval, decision: Decision, *, by: str | None, reason: str | None
) -> None:
    approval_id = str(approval.id)
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
    await conn.execute(NOTIFY, NOTIFY_CHANNEL, approval_id)
    await _follow_up(conn, approval, decision, by=by, reason=reason)


async def _follow_up(
    conn: asyncpg.Connection, approval: Approval, decision: Decision, *, by: str | None, reason: str | None
) -> None:
    """The Slack message update and thread reply (outbox), then the continuation event, last: publishing
    is what holds the bus's ordering until commit, so nothing else runs after it."""
    assert approval.resolved_at is not None
    approval_id = str(approval.id)
    await outbox.enqueue(
        conn, "slack.approval.update", {"approval_id": approval_id}, dedupe_key=_key(approval, "update")
    )
    await outbox.enqueue(conn, "slack.approval.reply", {"approval_id": approval_id}, dedupe_key=_key(approval, "reply"))
    payload = continuation(
        approval.continuation_payload,
        approval_id=approval_id,
        decision=decision,
        decided_at=approval.resolved_at,
    )
    await bus.publish(
        conn,
        continuation_event_type(approval.continuation_event_type),
        payload,
        targets=[approval.agent_name],
        correlation_id=approval.id,
    )


EXPIRE_JOB = scheduler.Job("approvals.expire", 10.0, expire_due)
