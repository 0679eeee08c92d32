"""Quorums: each vote a row, one per person, settled in SQL; the requester never votes."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from domain.approvals import store as approvals
from domain.approvals.blocks import ActionId
from domain.approvals.rules import Decision
from tests.integration.approvals.conftest import Harness, eventually

LEADS = ["U0ANA", "U0BEN", "U0CAT", "U0DAN", "U0EVE", "U0FAY"]


async def _quorum(harness: Harness, quorum: dict[str, int], approvers: list[str] = LEADS) -> None:
    await harness.pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'approvals.quorum'", quorum
    )
    await harness.pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'approvals.approvers'",
        {"critical": approvers, "high": approvers},
    )


async def _events(harness: Harness, approval_id: str) -> list[dict[str, object]]:
    rows = await harness.pool.fetch(
        "SELECT event_type, payload FROM agent_events WHERE correlation_id = $1 ORDER BY created_at",
        uuid.UUID(approval_id),
    )
    return [{"event_type": r["event_type"], **r["payload"]} for r in rows]


async def _vote(
    pool: asyncpg.Pool, approval_id: str, user: str, decision: Decision = Decision.APPROVED
) -> approvals.Outcome:
    async with pool.acquire() as conn, conn.transaction():
        return await approvals.decide(
            conn, uuid.UUID(approval_id), decision, by=user, reason="no" if decision == Decision.REJECTED else None
        )


async def test_n_people_at_once_reach_the_quorum_exactly_once(harness: Harness) -> None:
    await _quorum(harness, {"critical": 2})
    approval_id = (await harness.create(risk_level="critical"))["id"]
    await harness.deliver()
    await asyncio.gather(*(harness.click(ActionId.APPROVE, approval_id, user=u) for u in LEADS))
    row = await harness.get(approval_id, wait=10)
    assert row["status"] == "approved"
    await eventually(lambda: harness.ephemerals_queued(len(LEADS) - 2), lambda notes: len(notes) >= len(LEADS) - 2)
    assert [e["event_type"] for e in await _events(harness, approval_id)] == ["deploy.rollback.decided"]
    votes = await harness.pool.fetch("SELECT voter FROM approval_votes WHERE approval_id = $1", uuid.UUID(approval_id))
    assert len(votes) == 2, "votes after the quorum closed the request are not recorded"
    assert row["resolved_by"] in {v["voter"] for v in votes}
    assert (
        await harness.pool.fetchval("SELECT count(*) FROM agent_actions WHERE action_type = 'approval.approved'") == 1
    )


async def test_the_last_vote_sees_every_earlier_vote(harness: Harness) -> None:
    """Two approvers voting while each other's transaction is open: without the request's row lock
    (``LOCK_PENDING``) each counts only itself and a quorum of two is never reached."""
    await _quorum(harness, {"critical": 2})
    approval_id = (await harness.create(risk_level="critical"))["id"]
    first = await harness.pool.acquire()
    try:
        tx = first.transaction()
        await tx.start()
        outcome = await approvals.decide(first, uuid.UUID(approval_id), Decision.APPROVED, by="U0ANA")
        assert outcome.vote == approvals.Vote.COUNTED
        second = asyncio.create_task(_vote(harness.pool, approval_id, "U0BEN"))
        await asyncio.sleep(0.3)  # let the second vote reach the database while the first is uncommitted
        await tx.commit()
    finally:
        await harness.pool.release(first)
    outcome = await second
    assert outcome.vote == approvals.Vote.DECIDED and outcome.won
    assert (await harness.get(approval_id))["status"] == "approved"


async def test_the_same_person_twice_counts_once(harness: Harness) -> None:
    await _quorum(harness, {"critical": 2})
    approval_id = (await harness.create(risk_level="critical"))["id"]
    await harness.deliver()
    await asyncio.gather(*(harness.click(ActionId.APPROVE, approval_id, user="U0ANA") for _ in range(4)))
    notes = await harness.ephemerals_queued(4)
    assert sum("voted on this request already" in n["text"] for n in notes) == 3
    assert (await harness.get(approval_id))["status"] == "pending", "one person is not a quorum of two"
    assert await harness.pool.fetchval("SELECT count(*) FROM approval_votes") == 1
    assert await _events(harness, approval_id) == []
    await harness.deliver()
    update = harness.fake.called("chat.update")[-1]
    context = [b for b in update.args["blocks"] if b["type"] == "context"]
    assert any("1 of 2" in e["text"] and "<@U0ANA>" in e["text"] for b in context for e in b["elements"])
    await harness.click(ActionId.APPROVE, approval_id, user="U0BEN")
    assert (await harness.get(approval_id, wait=10))["status"] == "approved"


async def test_a_reject_during_a_quorum_rejects(harness: Harness) -> None:
    await _quorum(harness, {"critical": 3})
    approval_id = (await harness.create(risk_level="critical"))["id"]
    assert (await _vote(harness.pool, approval_id, "U0ANA")).vote == approvals.Vote.COUNTED
    racing = await asyncio.gather(
        _vote(harness.pool, approval_id, "U0BEN"),
        _vote(harness.pool, approval_id, "U0CAT", Decision.REJECTED),
        _vote(harness.pool, approval_id, "U0DAN"),
    )
    row = await harness.get(approval_id)
    assert [o.won for o in racing].count(True) == 1
    events = await _events(harness, approval_id)
    assert len(events) == 1 and events[0]["decision"] == row["status"]
    if row["status"] == "rejected":
        assert row["resolved_by"] == "U0CAT"
    else:  # the reject came last: the two approvals before it made the quorum
        assert racing[1].vote == approvals.Vote.CLOSED
    assert (await _vote(harness.pool, approval_id, "U0EVE")).vote == approvals.Vote.CLOSED


async def test_one_reject_rejects_before_the_quorum(harness: Harness) -> None:
    await _quorum(harness, {"critical": 2})
    approval_id = (await harness.create(risk_level="critical"))["id"]
    assert (await _vote(harness.pool, approval_id, "U0ANA")).vote == approvals.Vote.COUNTED
    assert (await _vote(harness.pool, approval_id, "U0BEN", Decision.REJECTED)).won
    (event,) = await _events(harness, approval_id)
    assert event["decision"] == "rejected"


async def test_the_requester_can_never_vote(harness: Harness) -> None:
    await _quorum(harness, {"critical": 1})
    approval_id = (await harness.create(risk_level="critical", requested_by="U0ANA"))["id"]
    await harness.click(ActionId.APPROVE, approval_id, user="U0ANA")
    (note,) = await harness.ephemerals_queued()
    assert note["user"] == "U0ANA" and "may not decide it" in note["text"]
    assert (await harness.get(approval_id))["status"] == "pending"
    assert await harness.pool.fetchval("SELECT count(*) FROM approval_votes") == 0
    assert (await _vote(harness.pool, approval_id, "U0ANA", Decision.REJECTED)).vote == approvals.Vote.SELF
    await harness.click(ActionId.APPROVE, approval_id, user="U0BEN")
    assert (await harness.get(approval_id, wait=10))["status"] == "approved"
