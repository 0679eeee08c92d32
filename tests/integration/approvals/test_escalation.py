"""Escalation with an injected clock, and the watchdog for request messages that never appeared."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta
from typing import Any

from domain.approvals import watch
from domain.approvals.blocks import ActionId
from domain.approvals.escalation import Step
from jobs import outbox
from tests.integration.approvals.conftest import CHANNEL, Harness, eventually

APPROVERS = {"high": ["U0LEAD", "S0SRE"], "critical": ["U0BOSS"]}
ESCALATION = {"high": {"after_s": 900, "widen_after_s": 600}}


async def _set(harness: Harness, key: str, value: object) -> None:
    await harness.pool.execute("UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = $2", value, key)


async def _escalations(harness: Harness, approval_id: str) -> list[tuple[str, dict[str, object]]]:
    rows = await harness.pool.fetch(
        "SELECT event_type, payload FROM agent_events WHERE correlation_id = $1 AND event_type LIKE 'approval.%'"
        " ORDER BY created_at",
        uuid.UUID(approval_id),
    )
    return [(r["event_type"], r["payload"]) for r in rows]


async def _created(harness: Harness, approval_id: str) -> datetime:
    created: datetime = await harness.pool.fetchval(
        "SELECT created_at FROM approval_requests WHERE id = $1", uuid.UUID(approval_id)
    )
    return created


async def test_reminder_and_dms_then_the_next_levels_approvers(harness: Harness) -> None:
    await _set(harness, "approvals.approvers", APPROVERS)
    await _set(harness, "approvals.escalation", ESCALATION)
    harness.fake.usergroups["S0SRE"] = ["U0SRE1", "U0SRE2"]
    approval_id = (await harness.create(risk_level="high"))["id"]
    await harness.deliver()
    assert len(harness.fake.called("chat.postMessage")) == 1
    created = await _created(harness, approval_id)

    assert await watch.escalate_due(harness.pool, now=created + timedelta(seconds=899)) == []
    taken = await watch.escalate_due(harness.pool, now=created + timedelta(seconds=900))
    assert taken == [(uuid.UUID(approval_id), Step.REMINDED)]
    assert await watch.escalate_due(harness.pool, now=created + timedelta(seconds=901)) == [], "each step once"
    ((kind, payload),) = await _escalations(harness, approval_id)
    assert kind == "approval.escalated" and payload == {
        "approval_id": approval_id,
        "step": "reminded",
        "risk_level": "high",
        "status": "pending",
    }
    await harness.deliver()
    posts = harness.fake.called("chat.postMessage")[1:]
    reminder = next(c for c in posts if c.args.get("thread_ts"))
    row = await harness.get(approval_id)
    assert reminder.args["channel"] == CHANNEL and reminder.args["thread_ts"] == row["slack_message_ts"]
    assert "<@U0LEAD>" in reminder.args["text"] and "<!subteam^S0SRE>" in reminder.args["text"]
    dms = sorted(c.args["channel"] for c in posts if not c.args.get("thread_ts"))
    assert dms == ["U0LEAD", "U0SRE1", "U0SRE2"]

    await harness.click(ActionId.APPROVE, approval_id, user="U0BOSS")
    (note,) = await harness.ephemerals_queued()
    assert "may not decide" in note["text"], "the next level's approvers only after the second interval"

    taken = await watch.escalate_due(harness.pool, now=created + timedelta(seconds=1500))
    assert taken == [(uuid.UUID(approval_id), Step.WIDENED)]
    assert [p["step"] for _, p in await _escalations(harness, approval_id)] == ["reminded", "widened"]
    await harness.deliver()
    widened = harness.fake.called("chat.postMessage")[-1]
    assert "<@U0BOSS>" in widened.args["text"] and widened.args.get("thread_ts")
    await harness.click(ActionId.APPROVE, approval_id, user="U0BOSS")
    row = await harness.get(approval_id, wait=10)
    assert row["status"] == "approved" and row["resolved_by"] == "U0BOSS"


async def test_a_late_job_takes_every_due_step_and_expiry_still_applies(harness: Harness) -> None:
    await _set(harness, "approvals.approvers", APPROVERS)
    await _set(harness, "approvals.escalation", ESCALATION)
    late = (await harness.create(risk_level="high"))["id"]
    short = (await harness.create(risk_level="high", action_type="restart", expires_in_s=600))["id"]
    created = await _created(harness, late)
    taken = await watch.escalate_due(harness.pool, now=created + timedelta(hours=2))
    assert taken == [(uuid.UUID(late), Step.REMINDED), (uuid.UUID(late), Step.WIDENED)]
    assert await _escalations(harness, short) == [], "an expired request is not escalated"


async def test_levels_without_a_setting_only_wait(harness: Harness) -> None:
    await _set(harness, "approvals.escalation", ESCALATION)
    approval_id = (await harness.create(risk_level="low"))["id"]
    created = await _created(harness, approval_id)
    assert await watch.escalate_due(harness.pool, now=created + timedelta(hours=3)) == []


async def test_an_undeliverable_request_is_reported_once(harness: Harness) -> None:
    harness.fake.fail("chat.postMessage", "channel_not_found")
    approval_id = (await harness.create())["id"]
    await harness.deliver()
    assert await harness.pool.fetchval("SELECT status FROM outbox WHERE kind = 'slack.approval.post'") == "dead"
    await eventually(  # /readyz's database checks run in the background, every second
        lambda: _ready(harness), lambda ready: ready.get("approvals_undeliverable") == [approval_id]
    )

    now = await _created(harness, approval_id) + timedelta(seconds=30)
    assert await watch.escalate_due(harness.pool, now=now) == [(uuid.UUID(approval_id), Step.UNDELIVERABLE)]
    assert await watch.escalate_due(harness.pool, now=now) == []
    ((kind, payload),) = await _escalations(harness, approval_id)
    assert kind == "approval.undeliverable" and payload["approval_id"] == approval_id
    assert set(payload) == {"approval_id", "status", "delivery"}, "ids and states only"

    config = dataclasses.replace(harness.ctx.config, slack_incidents_channel="C0INCIDENTS")
    await outbox.deliver_due(dataclasses.replace(harness.ctx, config=config))
    note = harness.fake.called("chat.postMessage")[-1]
    assert note.args["channel"] == "C0INCIDENTS" and approval_id in note.args["text"]

    await harness.pool.execute("UPDATE outbox SET status = 'pending', attempts = 0 WHERE kind = 'slack.approval.post'")
    await harness.deliver()
    await eventually(lambda: _ready(harness), lambda ready: "approvals_undeliverable" not in ready)


async def _ready(harness: Harness) -> Any:
    return await (await harness.client.get("/readyz")).json()
