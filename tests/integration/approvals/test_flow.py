"""Create -> posted -> decided -> the agent resumes, the message shows it; reject through the modal."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from domain.approvals.blocks import ActionId, CallbackId
from tests.integration.approvals.conftest import CHANNEL, Harness, submission_payload


def _buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


async def test_create_post_approve_resume_and_show(harness: Harness) -> None:
    created = await harness.create()
    assert created["status"] == "pending" and created["slack_message_ts"] is None
    approval_id = created["id"]

    assert await harness.deliver() == 1
    (post,) = harness.fake.called("chat.postMessage")
    assert post.args["channel"] == CHANNEL and post.token == "xoxb-approvals-test"
    blocks = post.args["blocks"]
    assert len(blocks) <= 50
    text = json.dumps(blocks)
    assert "deploy-agent" in text and "rollback_deployment" in text and "error rate 12%" in text
    assert "<!date^" in text, "the expiry uses Slack date formatting"
    buttons = _buttons(blocks)
    assert [b["action_id"] for b in buttons] == [ActionId.APPROVE, ActionId.REJECT]
    assert {b["value"] for b in buttons} == {approval_id}
    assert all("confirm" not in b for b in buttons), "no confirmation dialog for medium risk"

    row = await harness.get(approval_id)
    assert row["slack_channel_id"] == CHANNEL
    assert row["slack_message_ts"] and row["slack_thread_ts"] == row["slack_message_ts"]

    waiter = asyncio.create_task(harness.get(approval_id, wait=10))
    await harness.click(ActionId.APPROVE, approval_id, user="U0APPROVER", message_ts=row["slack_message_ts"])
    decided = await asyncio.wait_for(waiter, 10)
    assert decided["status"] == "approved" and decided["resolved_by"] == "U0APPROVER"
    assert decided["resolved_at"] is not None and decided["rejection_reason"] is None

    event = await harness.pool.fetchrow("SELECT * FROM agent_events")
    assert event["event_type"] == "deploy.rollback.decided"
    assert event["target_agent_ids"] == ["deploy-agent"] and str(event["correlation_id"]) == approval_id
    payload = event["payload"]
    assert payload["incident_id"] == "inc-7" and payload["step"] == 3
    assert payload["approval_id"] == approval_id and payload["decision"] == "approved"
    assert payload["decided_at"] and "decided_by" not in payload and "reason" not in payload

    audit = await harness.pool.fetchrow("SELECT * FROM agent_actions")
    assert audit["input_context"]["approval_id"] == approval_id
    assert audit["approval_status"] == "approved" and audit["approved_by"] == "U0APPROVER" and audit["success"]

    await harness.deliver()
    (update,) = harness.fake.called("chat.update")
    assert update.args["channel"] == CHANNEL and update.args["ts"] == row["slack_message_ts"]
    assert not _buttons(update.args["blocks"]), "the buttons are replaced by the decision"
    assert "Approved" in json.dumps(update.args["blocks"]) and "<@U0APPROVER>" in json.dumps(update.args["blocks"])
    reply = harness.fake.called("chat.postMessage")[1]
    assert reply.args["thread_ts"] == row["slack_message_ts"] and "<@U0APPROVER>" in reply.args["text"]


async def test_reject_with_a_reason_through_the_modal(harness: Harness) -> None:
    approval_id = (await harness.create())["id"]
    await harness.deliver()
    await harness.click(ActionId.REJECT, approval_id, user="U0REVIEWER")
    (opened,) = await harness.fake.wait_for("views.open")
    assert opened.args["trigger_id"] == "111.222.valid"
    view = opened.args["view"] if isinstance(opened.args["view"], dict) else json.loads(opened.args["view"])
    assert view["callback_id"] == CallbackId.REJECT_REASON and view["private_metadata"] == approval_id
    assert (await harness.get(approval_id))["status"] == "pending", "opening the modal decides nothing"

    response = await harness.interact(submission_payload(approval_id, "Roll forward instead", user="U0REVIEWER"))
    assert response.status == 200
    row = await harness.get(approval_id, wait=10)
    assert row["status"] == "rejected" and row["rejection_reason"] == "Roll forward instead"
    assert row["resolved_by"] == "U0REVIEWER"
    event = await harness.pool.fetchrow("SELECT payload FROM agent_events")
    assert event["payload"]["decision"] == "rejected" and "Roll forward" not in json.dumps(event["payload"])
    await harness.deliver()
    (update,) = harness.fake.called("chat.update")
    assert "Roll forward instead" in json.dumps(update.args["blocks"])


async def test_an_empty_reason_keeps_the_modal_open(harness: Harness) -> None:
    approval_id = (await harness.create())["id"]
    response = await harness.interact(submission_payload(approval_id, "   "))
    assert response.status == 200
    answer = await response.json()
    assert answer["response_action"] == "errors" and "reason" in answer["errors"]
    assert (await harness.get(approval_id))["status"] == "pending"


async def test_thread_and_channel_of_the_request_are_used(harness: Harness) -> None:
    approval_id = (await harness.create(channel="C0INCIDENT", thread_ts="1712345678.000100"))["id"]
    await harness.deliver()
    (post,) = harness.fake.called("chat.postMessage")
    assert post.args["channel"] == "C0INCIDENT" and post.args["thread_ts"] == "1712345678.000100"
    row = await harness.get(approval_id)
    assert row["slack_thread_ts"] == "1712345678.000100" and row["slack_message_ts"] != row["slack_thread_ts"]


async def test_per_risk_channel_setting_and_confirm_dialog(harness: Harness) -> None:
    await harness.pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'approvals.channels'",
        {"critical": "C0CRITICAL"},
    )
    await harness.create(risk_level="critical")
    await harness.create(risk_level="low", action_details={"service": "search"})  # not identical: not deduplicated
    await harness.deliver()
    channels = sorted(c.args["channel"] for c in harness.fake.called("chat.postMessage"))
    assert channels == sorted(["C0CRITICAL", CHANNEL])
    critical = next(c for c in harness.fake.called("chat.postMessage") if c.args["channel"] == "C0CRITICAL")
    assert all("confirm" in b for b in _buttons(critical.args["blocks"]))


async def test_huge_details_stay_within_slack_limits(harness: Harness) -> None:
    details = {f"key_{i}": "x<&>" * 200 for i in range(70)}
    await harness.create(action_details=details, action_type="a" * 100, agent_name="b" * 100)
    await harness.deliver()
    (post,) = harness.fake.called("chat.postMessage")
    blocks = post.args["blocks"]
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150


async def test_post_waits_while_slack_rate_limits(harness: Harness) -> None:
    """Retry-After is a delay on the outbox row, never a sleep inside the pass (it once took 30 s here)."""
    harness.fake.rate_limit("chat.postMessage", retry_after=30, times=3)
    approval_id = (await harness.create())["id"]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await harness.deliver()
    assert loop.time() - started < 10, "the pass slept through Retry-After"
    assert len(harness.fake.called("chat.postMessage")) == 1, "no retry inside the pass"
    row = await harness.pool.fetchrow(
        "SELECT status, attempts, last_error, next_attempt_at - now() AS wait FROM outbox"
    )
    assert row["status"] == "pending" and "rate limited" in row["last_error"] and row["attempts"] == 0
    assert 25 < row["wait"].total_seconds() <= 30, "due again after Retry-After"
    assert (await harness.get(approval_id))["slack_message_ts"] is None


async def test_slow_slack_never_delays_the_ack(harness: Harness) -> None:
    """Slack must get its ack within 3 s even when every Web API call takes 2 s."""
    await harness.pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'approvals.approvers'",
        {"medium": ["S0ONCALL"]},
    )
    harness.fake.usergroups["S0ONCALL"] = ["U0ONCALL"]
    harness.fake.delay_s = 2.0
    approval_id = (await harness.create())["id"]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await harness.click(ActionId.APPROVE, approval_id, user="U0ONCALL")
    ack_s = loop.time() - started
    assert (await harness.get(approval_id))["status"] == "pending", "acked before the 2 s group lookup ended"
    started = loop.time()
    await harness.click(ActionId.REJECT, approval_id, user="U0ONCALL")
    reject_ack_s = loop.time() - started
    assert ack_s < 3 and reject_ack_s < 3, (ack_s, reject_ack_s)
    row = await harness.get(approval_id, wait=10)
    assert row["status"] == "approved" and row["resolved_by"] == "U0ONCALL"
    await harness.fake.wait_for("views.open")


async def test_a_request_an_agent_inserts_with_sql_is_posted_too(harness: Harness) -> None:
    """Agents on Supabase write the seed table directly; the message follows all the same."""
    async with harness.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT set_config('role', 'service_role', true),"
            " set_config('request.jwt.claims', '{\"role\": \"service_role\"}', true)"
        )
        approval_id = await conn.fetchval(
            "INSERT INTO approval_requests (agent_name, action_type, action_details, risk_level, slack_channel_id)"
            " VALUES ('sql-agent', 'drop_index', '{\"index\": \"idx_old\"}', 'low', 'C0SQL') RETURNING id"
        )
    assert await harness.deliver() == 1
    (posted,) = harness.fake.called("chat.postMessage")
    assert posted.args["channel"] == "C0SQL" and "sql-agent" in json.dumps(posted.args)
    row = await harness.pool.fetchrow(
        "SELECT slack_channel_id, slack_message_ts FROM approval_requests WHERE id = $1", approval_id
    )
    assert row["slack_channel_id"] == "C0SQL" and row["slack_message_ts"]
    await harness.click("approval_approve", str(approval_id))
    decided = await harness.get(str(approval_id), wait=5)
    assert decided["status"] == "approved"
