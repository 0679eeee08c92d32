"""Who may decide, deciding once, late clicks, expiry and cancel."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from domain.approvals import store as approvals
from domain.approvals import store as approvals_store
from domain.approvals.blocks import ActionId
from domain.approvals.rules import Decision
from jobs import scheduler
from tests.integration.approvals.conftest import CHANNEL, SERVICE, Harness, click_payload, submission_payload


async def _set(harness: Harness, key: str, value: object) -> None:
    await harness.pool.execute("UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = $2", value, key)


async def _expire_now(harness: Harness, approval_id: str) -> None:
    await harness.pool.execute(
        "UPDATE approval_requests SET expires_at = now() - interval '1 second' WHERE id = $1", approval_id
    )


async def test_unauthorised_clicker_is_told_and_nothing_changes(harness: Harness) -> None:
    await _set(harness, "approvals.approvers", {"high": ["U0LEAD", "S0SRE"]})
    harness.fake.usergroups["S0SRE"] = ["U0SRE"]
    approval_id = (await harness.create(risk_level="high"))["id"]

    await harness.click(ActionId.APPROVE, approval_id, user="U0INTERN")
    (note,) = await harness.ephemerals_queued()
    assert note["user"] == "U0INTERN" and note["channel"] == CHANNEL and "may not decide" in note["text"]
    assert (await harness.get(approval_id))["status"] == "pending"
    assert await harness.pool.fetchval("SELECT count(*) FROM agent_events") == 0
    await harness.deliver()
    (ephemeral,) = harness.fake.called("chat.postEphemeral")
    assert ephemeral.args["user"] == "U0INTERN" and ephemeral.args["channel"] == CHANNEL

    await harness.click(ActionId.APPROVE, approval_id, user="U0SRE")
    row = await harness.get(approval_id, wait=10)
    assert row["status"] == "approved" and row["resolved_by"] == "U0SRE", "a member of a listed group may"
    assert len(harness.fake.called("usergroups.users.list")) == 1


async def test_high_risk_without_a_list_is_refused(harness: Harness) -> None:
    approval_id = (await harness.create(risk_level="critical"))["id"]
    await harness.click(ActionId.APPROVE, approval_id, user="U0ANYONE")
    (note,) = await harness.ephemerals_queued()
    assert "approvals.approvers.critical" in note["text"]
    assert (await harness.get(approval_id))["status"] == "pending"
    await harness.click(ActionId.REJECT, approval_id, user="U0ANYONE")
    await harness.ephemerals_queued(2)
    assert not harness.fake.called("views.open"), "no modal for someone who may not decide anyway"


async def test_group_members_are_cached_briefly(harness: Harness) -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    from integrations.slack.usergroups import GroupMembers

    now = [1000.0]
    groups = GroupMembers(ttl_s=60, clock=lambda: now[0])
    members_of = groups.lookup(AsyncWebClient(token="xoxb-t", base_url=harness.fake.url))
    harness.fake.usergroups["S0SRE"] = ["U1"]
    assert await members_of("S0SRE") == {"U1"}
    harness.fake.usergroups["S0SRE"] = ["U1", "U2"]
    now[0] += 59
    assert await members_of("S0SRE") == {"U1"}, "cached"
    now[0] += 2
    assert await members_of("S0SRE") == {"U1", "U2"}, "refreshed after the TTL"
    harness.fake.fail("usergroups.users.list", "no_such_subteam")
    assert await members_of("S0NOPE") == frozenset()
    assert len(harness.fake.called("usergroups.users.list")) == 3


async def test_refused_reject_through_the_modal_changes_nothing(harness: Harness) -> None:
    await _set(harness, "approvals.approvers", {"medium": ["U0LEAD"]})
    approval_id = (await harness.create())["id"]
    await harness.interact(submission_payload(approval_id, "no", user="U0INTERN"))
    (note,) = await harness.ephemerals_queued()
    assert note["user"] == "U0INTERN" and "may not decide" in note["text"]
    assert (await harness.get(approval_id))["status"] == "pending"


async def test_two_concurrent_approves_exactly_one_wins(harness: Harness) -> None:
    approval_id = (await harness.create())["id"]
    await harness.deliver()
    await asyncio.gather(
        harness.click(ActionId.APPROVE, approval_id, user="U0ALICE"),
        harness.click(ActionId.APPROVE, approval_id, user="U0BOB"),
        harness.click(ActionId.APPROVE, approval_id, user="U0CAROL"),
    )
    (loser1, loser2) = await harness.ephemerals_queued(2)
    row = await harness.get(approval_id)
    winner = row["resolved_by"]
    assert row["status"] == "approved" and winner in {"U0ALICE", "U0BOB", "U0CAROL"}
    for note in (loser1, loser2):
        assert note["user"] != winner and f"already approved by <@{winner}>" in note["text"]
    assert await harness.pool.fetchval("SELECT count(*) FROM agent_events") == 1
    assert await harness.pool.fetchval("SELECT count(*) FROM agent_actions") == 1
    await harness.deliver()
    assert len(harness.fake.called("chat.update")) == 1


async def test_double_click_by_the_same_person(harness: Harness) -> None:
    approval_id = (await harness.create())["id"]
    await harness.click(ActionId.APPROVE, approval_id, user="U0ALICE")
    await harness.get(approval_id, wait=10)
    await harness.click(ActionId.REJECT, approval_id, user="U0ALICE")
    (note,) = await harness.ephemerals_queued()
    assert "already approved by <@U0ALICE>" in note["text"] and "<!date^" in note["text"]
    assert not harness.fake.called("views.open"), "no modal for a decided request"


async def test_click_after_expiry_is_refused(harness: Harness) -> None:
    approval_id = (await harness.create())["id"]
    await _expire_now(harness, approval_id)
    await harness.click(ActionId.APPROVE, approval_id, user="U0LATE")
    (note,) = await harness.ephemerals_queued()
    assert "expired" in note["text"]
    assert (await harness.get(approval_id))["status"] == "pending", "the job, not the click, expires it"
    # and the SQL itself refuses, whatever the handler read before
    async with harness.pool.acquire() as conn, conn.transaction():
        outcome = await approvals.decide(conn, uuid.UUID(approval_id), Decision.APPROVED, by="U0")
    assert not outcome.won


async def test_expiry_job_expires_once_and_resumes_the_agent(harness: Harness) -> None:
    stays = (await harness.create())["id"]
    goes = (await harness.create(continuation_event_type=None, action_details={"service": "search"}))["id"]
    await harness.deliver()
    await _expire_now(harness, goes)
    waiter = asyncio.create_task(harness.get(goes, wait=10))
    job = approvals_store.EXPIRE_JOB
    assert job.interval_s <= 15
    ran = await asyncio.gather(*(scheduler.tick(harness.pool, job) for _ in range(3)))
    assert any(ran)
    await asyncio.gather(*(approvals.expire_due(harness.pool) for _ in range(3)))  # as replicas without the lock
    row = await asyncio.wait_for(waiter, 10)
    assert row["status"] == "expired" and row["resolved_at"] is not None
    assert (await harness.get(stays))["status"] == "pending"
    events = await harness.pool.fetch("SELECT event_type, payload, target_agent_ids FROM agent_events")
    assert len(events) == 1
    assert events[0]["event_type"] == "approval.decided" and events[0]["payload"]["decision"] == "expired"
    await harness.deliver()
    (update,) = harness.fake.called("chat.update")
    assert "Expired" in json.dumps(update.args["blocks"])


async def test_cancel_withdraws_and_resumes_with_cancelled(harness: Harness) -> None:
    approval_id = (await harness.create())["id"]
    await harness.deliver()
    waiter = asyncio.create_task(harness.get(approval_id, wait=10))
    response = await harness.client.post(
        f"/api/v1/approvals/{approval_id}/cancel", json={"reason": "fixed itself"}, headers=SERVICE
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["status"] == "cancelled"
    row = await asyncio.wait_for(waiter, 10)
    assert row["status"] == "cancelled"
    event = await harness.pool.fetchrow("SELECT payload FROM agent_events")
    assert event["payload"]["decision"] == "cancelled" and "reason" not in event["payload"]
    assert row["rejection_reason"] == "fixed itself"
    again = await harness.client.post(f"/api/v1/approvals/{approval_id}/cancel", headers=SERVICE)
    assert again.status == 409
    await harness.click(ActionId.APPROVE, approval_id, user="U0LATE")
    (note,) = await harness.ephemerals_queued()
    assert "withdrawn" in note["text"]
    await harness.deliver()
    (update,) = harness.fake.called("chat.update")
    assert "Withdrawn" in json.dumps(update.args["blocks"])
    missing = await harness.client.post(
        f"/api/v1/approvals/{'0' * 8}-0000-0000-0000-{'0' * 12}/cancel", headers=SERVICE
    )
    assert missing.status == 404


async def test_update_waits_until_the_message_is_posted(harness: Harness) -> None:
    harness.fake.answer_status("chat.postMessage", 500)
    approval_id = (await harness.create())["id"]
    await harness.deliver()
    await harness.client.post(f"/api/v1/approvals/{approval_id}/cancel", headers=SERVICE)
    await harness.deliver()
    assert not harness.fake.called("chat.update")
    await harness.pool.execute("UPDATE outbox SET next_attempt_at = now() WHERE status = 'pending'")
    await harness.deliver()
    (post,) = [c for c in harness.fake.called("chat.postMessage") if "blocks" in c.args][-1:]
    assert "Withdrawn" in json.dumps(post.args["blocks"]), "posted late, it shows the current state"
    await harness.pool.execute("UPDATE outbox SET next_attempt_at = now() WHERE status = 'pending'")
    await harness.deliver()
    assert len(harness.fake.called("chat.update")) == 1


async def test_bad_signature_and_stale_timestamp_are_refused_by_bolt(harness: Harness) -> None:
    approval_id = (await harness.create())["id"]
    payload = click_payload(ActionId.APPROVE, approval_id, user="U0MALLORY")
    bad = await harness.interact(payload, secret="not-the-secret")
    stale = await harness.interact(payload, timestamp=int(time.time()) - 301)
    assert bad.status == 401 and stale.status == 401
    assert (await harness.get(approval_id))["status"] == "pending"
    assert await harness.pool.fetchval("SELECT count(*) FROM outbox WHERE kind <> 'slack.approval.post'") == 0


async def test_waiting_returns_pending_after_the_wait(harness: Harness) -> None:
    approval_id = (await harness.create())["id"]
    row = await harness.get(approval_id, wait=0.2)
    assert row["status"] == "pending"
    response = await harness.client.get(f"/api/v1/approvals/{approval_id}?wait=61", headers=SERVICE)
    assert response.status == 400 and (await response.json())["field"] == "wait"


async def test_a_rejection_is_audited_with_its_reason_and_wakes_the_waiter(harness: Harness) -> None:
    approval_id = (await harness.create())["id"]
    async with harness.pool.acquire() as conn, conn.transaction():
        outcome = await approvals.decide(conn, uuid.UUID(approval_id), Decision.REJECTED, by="U0BOB", reason="too big")
    assert outcome.won and outcome.approval is not None and outcome.approval.status == "rejected"
    audit = await harness.pool.fetchrow("SELECT * FROM agent_actions")
    assert audit["action_type"] == "approval.rejected" and audit["action_category"] == "approval"
    assert audit["approval_status"] == "rejected" and audit["approved_by"] is None and audit["approved_at"] is None
    assert audit["output_result"] == {"decision": "rejected", "decided_by": "U0BOB", "reason": "too big"}
    context = audit["input_context"]
    assert context == {
        "approval_id": approval_id,
        "requested_by": outcome.approval.agent_name,
        "action_type": outcome.approval.action_type,
        "risk_level": "medium",
    }
    row = await harness.get(approval_id, wait=10)
    assert row["status"] == "rejected" and row["rejection_reason"] == "too big"
