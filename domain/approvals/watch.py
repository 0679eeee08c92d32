"""Requests that do not just wait: escalation steps, and the watchdog for messages that never appeared.

The ``approvals.escalate`` job takes each pending request's due steps (``domain.approvals.escalation``):
each step is a row of ``approval_escalations`` (its primary key: once per request and step, whichever
replica runs), published as ``approval.escalated`` to the agent (ids and states only), with its Slack
work queued in the same transaction. A pending request whose post is ``dead`` in the outbox (retries used
up, or a refusal) is reported once: ``approval.undeliverable`` to the agent and a message in the
incidents channel; ``/readyz`` lists it while it lasts. ``now`` is injected, so tests need no sleeping.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import asyncpg

import logs
from domain import settings
from domain.approvals.escalation import Step, due_steps, timing
from domain.approvals.policy import approvers_for, widened
from domain.approvals.rules import Approval
from domain.approvals.store import COLUMNS, _approval
from domain.bus import events as bus
from jobs import outbox, scheduler

ESCALATION_KEY = "approvals.escalation"
APPROVERS_KEY = "approvals.approvers"
ESCALATED_EVENT = "approval.escalated"
UNDELIVERABLE_EVENT = "approval.undeliverable"
BATCH = 500

CANDIDATES = f"""
SELECT {COLUMNS},
       ARRAY(SELECT step FROM approval_escalations e WHERE e.approval_id = a.id) AS steps
FROM approval_requests a
WHERE status = 'pending' AND expires_at > $1
ORDER BY created_at
LIMIT $2
"""
# The step is taken only while the request is still pending and unexpired at ``now``, and only once.
TAKE_STEP = """
INSERT INTO approval_escalations (approval_id, step, at)
SELECT id, $2, $3 FROM approval_requests WHERE id = $1 AND status = 'pending' AND expires_at > $3
ON CONFLICT (approval_id, step) DO NOTHING
RETURNING approval_id
"""
STEPS = "SELECT step FROM approval_escalations WHERE approval_id = $1"
# What a click needs before it is authorised, in one round trip: the request, who may decide, its steps.
FOR_CLICK = f"""
SELECT {COLUMNS},
       (SELECT config_value FROM agent_swarm_config WHERE config_key = '{APPROVERS_KEY}') AS approvers,
       ARRAY(SELECT step FROM approval_escalations e WHERE e.approval_id = a.id) AS steps
FROM approval_requests a
WHERE id = $1
"""
UNDELIVERABLE = """
SELECT a.id, a.agent_name, o.id AS outbox_id FROM approval_requests a
JOIN outbox o ON o.dedupe_key = 'approval:' || a.id || ':post'
WHERE a.status = 'pending' AND o.status = 'dead'
ORDER BY a.created_at
LIMIT $1
"""


async def steps_taken(conn: asyncpg.Connection | asyncpg.Pool, approval_id: uuid.UUID) -> frozenset[str]:
    return frozenset(r["step"] for r in await conn.fetch(STEPS, approval_id))


async def escalate_due(pool: asyncpg.Pool, now: datetime | None = None) -> list[tuple[uuid.UUID, Step]]:
    """Take every due escalation step and report undeliverable requests; returns the steps taken."""
    now = now or datetime.now(UTC)
    plans = await settings.get(pool, ESCALATION_KEY, {})
    approvers = await settings.get(pool, APPROVERS_KEY, {})
    taken: list[tuple[uuid.UUID, Step]] = []
    for row in await pool.fetch(CANDIDATES, now, BATCH):
        approval = _approval({k: row[k] for k in row.keys() if k != "steps"})
        for step in due_steps(
            timing(plans, approval.risk), approval.risk, approval.created_at, frozenset(row["steps"]), now
        ):
            async with pool.acquire() as conn, conn.transaction():
                if await conn.fetchval(TAKE_STEP, approval.id, step.value, now) is None:
                    continue
                await _escalated(conn, approval, step, approvers)
            taken.append((approval.id, step))
            logs.event("approvals.escalated", approval_id=str(approval.id), step=step.value)
    taken.extend(await report_undeliverable(pool, now))
    return taken


async def _escalated(conn: asyncpg.Connection, approval: Approval, step: Step, approvers: object) -> None:
    approval_id = str(approval.id)
    await bus.publish(
        conn,
        ESCALATED_EVENT,
        {"approval_id": approval_id, "step": step.value, "risk_level": approval.risk_level, "status": "pending"},
        targets=[approval.agent_name],
        correlation_id=approval.id,
    )
    await outbox.enqueue(
        conn,
        "slack.approval.remind",
        {"approval_id": approval_id, "step": step.value},
        dedupe_key=f"approval:{approval_id}:escalation:{step.value}",
    )
    if step != Step.REMINDED:
        return
    setting = approvers if isinstance(approvers, dict) else {}
    users, groups = approvers_for(setting, approval.risk)
    for target in [*users, *groups]:
        await outbox.enqueue(
            conn,
            "slack.approval.dm",
            {"approval_id": approval_id, "to": target},
            dedupe_key=f"approval:{approval_id}:dm:{target}",
        )


async def for_click(
    conn: asyncpg.Connection | asyncpg.Pool, approval_id: uuid.UUID
) -> tuple[Approval, dict[str, list[str]]] | None:
    """The request and the approvers setting as it applies to it (``effective_approvers``), or None."""
    row = await conn.fetchrow(FOR_CLICK, approval_id)
    if row is None:
        return None
    approval = _approval({k: row[k] for k in row.keys() if k not in ("approvers", "steps")})
    return approval, effective_approvers(row["approvers"] or {}, approval, frozenset(row["steps"]))


def effective_approvers(setting: object, approval: Approval, steps: frozenset[str]) -> dict[str, list[str]]:
    """The approvers setting as it applies to this request (widened once it escalated that far)."""
    base = setting if isinstance(setting, dict) else {}
    return widened(base, approval.risk) if Step.WIDENED in steps else {k: list(v) for k, v in base.items()}


async def report_undeliverable(pool: asyncpg.Pool, now: datetime) -> list[tuple[uuid.UUID, Step]]:
    taken: list[tuple[uuid.UUID, Step]] = []
    for row in await pool.fetch(UNDELIVERABLE, BATCH):
        async with pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(TAKE_STEP, row["id"], Step.UNDELIVERABLE.value, now) is None:
                continue
            payload = {"approval_id": str(row["id"]), "status": "pending", "delivery": "dead"}
            await bus.publish(conn, UNDELIVERABLE_EVENT, payload, targets=[row["agent_name"]], correlation_id=row["id"])
            await outbox.enqueue(
                conn,
                "slack.approval.undeliverable",
                {"approval_id": str(row["id"]), "outbox_id": row["outbox_id"]},
                dedupe_key=f"approval:{row['id']}:undeliverable",
            )
        logs.event("approvals.undeliverable", logging.WARNING, approval_id=str(row["id"]), outbox_id=row["outbox_id"])
        taken.append((row["id"], Step.UNDELIVERABLE))
    return taken


async def undeliverable(conn: asyncpg.Connection | asyncpg.Pool, limit: int = 50) -> list[str]:
    """Pending requests whose Slack message could not be posted (for /readyz)."""
    return [str(r["id"]) for r in await conn.fetch(UNDELIVERABLE, limit)]


async def _run(pool: asyncpg.Pool) -> object:
    return await escalate_due(pool)


ESCALATE_JOB = scheduler.Job("approvals.escalate", 10.0, _run)
