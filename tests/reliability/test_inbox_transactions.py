"""Transactions that lose a race run again (issue 10, defect 5): db.transactions.run_in_transaction.

The deadlock of defect 5, reproduced with real PostgreSQL locks: a person's decision publishes the
continuation (the bus's offset lock) and then writes its audit action (the action's hour mark), while an
agent's transaction has inserted an action in the same hour (holding that mark) and then publishes. The
decision waits first, so PostgreSQL makes it the deadlock victim; Slack was acked already, so it must
land anyway.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from db.errors import TRANSIENT
from db.transactions import run_in_transaction
from domain.approvals.rules import Decision
from handlers.slack.approvals import decide_click

PENDING = """
INSERT INTO approval_requests (agent_name, action_type, action_details, risk_level, expires_at)
VALUES ('deploy-agent', 'rollback', '{}', 'low', now() + interval '1 hour') RETURNING id
"""
ACTION = "INSERT INTO agent_actions (agent_name, action_type, success) VALUES ('triage-agent', 'probe', true)"
PUBLISH = (
    "INSERT INTO agent_events (source_agent_id, source_agent_type, event_type, payload) VALUES ('t', 't', 'x', '{}')"
)
WAITING = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
"""


async def nobody(_group: str) -> frozenset[str]:
    return frozenset()


async def wait_until_blocked(conn: asyncpg.Connection, count: int = 1) -> None:
    async with asyncio.timeout(20):
        while await conn.fetchval(WAITING) < count:
            await asyncio.sleep(0.02)


async def test_a_decision_that_deadlocks_with_an_agent_transaction_still_lands(
    pool: asyncpg.Pool, database_url: str
) -> None:
    approval_id = await pool.fetchval(PENDING)
    agent = await asyncpg.connect(database_url)
    observer = await asyncpg.connect(database_url)
    try:
        await agent.execute("SET deadlock_timeout = '30s'")  # the decision, waiting first, detects it
        tx = agent.transaction()
        await tx.start()
        await agent.execute(ACTION)  # holds the mark of the current hour
        decision = asyncio.create_task(
            decide_click(pool, nobody, raw_id=str(approval_id), user="U1", channel="C1", decision=Decision.APPROVED)
        )
        await wait_until_blocked(observer)  # the decision published, now waits for the hour's mark
        publish = asyncio.create_task(agent.execute(PUBLISH))  # waits for the bus lock: a cycle
        async with asyncio.timeout(30):
            await publish  # the decision was the victim and rolled back, releasing the bus lock
        await tx.commit()
        async with asyncio.timeout(30):
            assert await decision is True
    finally:
        await agent.close()
        await observer.close()
    row = await pool.fetchrow("SELECT status, resolved_by FROM approval_requests WHERE id = $1", approval_id)
    assert tuple(row) == ("approved", "U1")
    resumed = "SELECT count(*) FROM agent_events WHERE correlation_id = $1 AND payload->>'decision' = 'approved'"
    assert await pool.fetchval(resumed, approval_id) == 1


async def test_run_in_transaction_retries_a_serialization_failure_then_gives_up(pool: asyncpg.Pool) -> None:
    """Each attempt is rolled back whole: only the last one's write stays."""
    calls = 0

    async def conflicting(conn: asyncpg.Connection) -> int:
        nonlocal calls
        calls += 1
        await conn.execute("INSERT INTO linear_own_changes VALUES ($1, now(), 'test')", f"T-{calls}")
        if calls < 3:
            raise asyncpg.SerializationError("could not serialize access")
        return calls

    assert await run_in_transaction(pool, conflicting) == 3
    assert [r[0] for r in await pool.fetch("SELECT identifier FROM linear_own_changes")] == ["T-3"]

    async def always(conn: asyncpg.Connection) -> None:
        raise asyncpg.DeadlockDetectedError("deadlock detected")

    with pytest.raises(TRANSIENT):
        await run_in_transaction(pool, always, attempts=2)
