"""Outbox handlers that show approval requests in Slack: post, update after closing, thread reply, ephemeral.

Each reads the row as it is when delivered, so a retry shows the current state. The message's channel,
timestamp and thread are stored on the row once posted; updates and replies wait (RetryLater) until then.

The request message and the thread reply carry the approval id in their Slack ``metadata``. When an
earlier attempt may have posted (it crashed or timed out before the ts was stored), ``post_once`` finds
that message with ``conversations.history`` (``conversations.replies`` in a thread) and it is adopted:
its ts is stored, never posted a second time. It already shows the request as posted; a decision's
``slack.approval.update`` (queued with the decision, waiting until the ts is stored) then updates it. An
extra update here could land after the decision's (a late answer) and bring the buttons back.
"""

from __future__ import annotations

import uuid
from typing import Any

from domain import settings
from domain.approvals import store as approvals
from domain.approvals import watch
from domain.approvals.blocks import Shown, decided_message, request_message, thread_reply
from domain.approvals.escalation import Step, direct_message_text, reminder_text
from domain.approvals.extras import extras
from domain.approvals.history import precedents
from domain.approvals.policy import quorum_for
from domain.approvals.rules import Approval, Status, channel_for
from integrations.slack import client as slack
from jobs import outbox
from jobs.outbox import Context, Handler, RetryLater

CHANNELS_KEY = "approvals.channels"
NOT_POSTED_RETRY_S = 5.0
NO_CHANNEL_RETRY_S = 300.0
REQUEST_EVENT = "swarm_bridge_approval"
REPLY_EVENT = "swarm_bridge_approval_reply"
# How far before the row's creation a search for an orphan starts (clocks of Slack and the database differ).
CLOCK_MARGIN_S = 600.0


async def _load(ctx: Context, payload: dict[str, Any]) -> Approval | None:
    return await approvals.get(ctx.pool, uuid.UUID(payload["approval_id"]))


async def shown(ctx: Context, approval: Approval, *, with_precedent: bool = True) -> Shown:
    """What the request message shows beyond the row: votes, the Edit button, precedent."""
    found = await extras(ctx.pool, approval.id)
    quorum = quorum_for(await settings.get(ctx.pool, approvals.QUORUM_KEY, {}), approval.risk)
    return Shown(
        approvers_voted=tuple(v for v, kind in found.votes if kind == "approve"),
        quorum=quorum,
        editable=found.editable is not None,
        precedents=tuple(await precedents(ctx.pool, approval)) if with_precedent else (),
    )


def _posted(approval: Approval) -> tuple[str, str]:
    if not approval.slack_message_ts or not approval.slack_channel_id:
        raise RetryLater(NOT_POSTED_RETRY_S, f"approval {approval.id} is not posted to Slack yet")
    return approval.slack_channel_id, approval.slack_message_ts


async def post(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    approval = await _load(ctx, payload)
    if approval is None:
        return {"skipped": "approval request no longer exists"}
    if approval.slack_message_ts:
        return {"skipped": "already posted", "ts": approval.slack_message_ts}
    channel = channel_for(
        approval.slack_channel_id,
        await settings.get(ctx.pool, CHANNELS_KEY, {}),
        approval.risk,
        ctx.config.slack_approvals_channel,
    )
    if channel is None:
        raise RetryLater(
            NO_CHANNEL_RETRY_S,
            f"no channel for {approval.risk.value}-risk approvals: set SLACK_APPROVALS_CHANNEL or approvals.channels",
        )
    data, adopted = await slack.post_once(
        ctx,
        channel,
        REQUEST_EVENT,
        {"approval_id": str(approval.id)},
        thread_ts=approval.slack_thread_ts,
        oldest=approval.created_at.timestamp() - CLOCK_MARGIN_S,
        **request_message(approval, await shown(ctx, approval)),
    )
    ts, posted_in = str(data["ts"]), str(data.get("channel") or channel)
    await approvals.mark_posted(ctx.pool, approval.id, posted_in, ts, approval.slack_thread_ts or ts)
    return {"channel": posted_in, "ts": ts, "adopted": adopted}


async def update(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    approval = await _load(ctx, payload)
    if approval is None:
        return {"skipped": "approval request no longer exists"}
    channel, ts = _posted(approval)
    if approval.status == Status.PENDING:  # a vote towards a quorum: show the votes so far
        message = request_message(approval, await shown(ctx, approval))
    else:
        message = decided_message(approval)
    await slack.call(ctx, "chat.update", channel=channel, ts=ts, **message)
    return {"channel": channel, "ts": ts, "status": approval.status}


async def reply(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    approval = await _load(ctx, payload)
    if approval is None:
        return {"skipped": "approval request no longer exists"}
    channel, ts = _posted(approval)
    data, adopted = await slack.post_once(
        ctx,
        channel,
        REPLY_EVENT,
        {"approval_id": str(approval.id)},
        thread_ts=approval.slack_thread_ts or ts,
        text=thread_reply(approval),
    )
    return {"channel": channel, "ts": data.get("ts"), "adopted": adopted}


async def ephemeral(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """Only the clicker sees it; from outside a channel (App Home) it becomes a DM. Not reconciled: an
    ephemeral cannot be looked up, and a second copy of a notice is harmless."""
    if payload.get("channel"):
        await slack.call(
            ctx, "chat.postEphemeral", channel=payload["channel"], user=payload["user"], text=payload["text"]
        )
        return {"ephemeral": True}
    await slack.call(ctx, "chat.postMessage", channel=payload["user"], text=payload["text"])
    return {"direct_message": True}


async def remind(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """An escalation step's reply in the request's thread, mentioning its approvers as they now stand."""
    approval = await _load(ctx, payload)
    if approval is None or approval.status != Status.PENDING:
        return {"skipped": "no longer pending"}
    channel, ts = _posted(approval)
    setting = watch.effective_approvers(
        await settings.get(ctx.pool, watch.APPROVERS_KEY, {}), approval, await watch.steps_taken(ctx.pool, approval.id)
    )
    text = reminder_text(setting, approval.risk, Step(payload["step"]))
    data = await slack.call(
        ctx, "chat.postMessage", channel=channel, thread_ts=approval.slack_thread_ts or ts, text=text
    )
    return {"channel": channel, "ts": data.get("ts")}


async def direct_message(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """A DM to one approver; a user group is resolved into one queued DM per member."""
    approval = await _load(ctx, payload)
    if approval is None or approval.status != Status.PENDING:
        return {"skipped": "no longer pending"}
    target = str(payload["to"])
    if target.startswith("S"):
        data = await slack.call(ctx, "usergroups.users.list", usergroup=target)
        members = [str(u) for u in data.get("users") or []]
        async with ctx.pool.acquire() as conn, conn.transaction():
            for user in members:
                await outbox.enqueue(
                    conn,
                    "slack.approval.dm",
                    {"approval_id": str(approval.id), "to": user},
                    dedupe_key=f"approval:{approval.id}:dm:{user}",
                )
        return {"group": target, "members": len(members)}
    text = direct_message_text(approval.agent_name, approval.action_type, approval.slack_channel_id)
    await slack.call(ctx, "chat.postMessage", channel=target, text=text)
    return {"direct_message": True}


async def undeliverable(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """The watchdog's note in the incidents channel: a request whose message never appeared."""
    channel = ctx.config.slack_incidents_channel
    if not channel:
        return {"skipped": "no SLACK_INCIDENTS_CHANNEL to report to"}
    approval = await _load(ctx, payload)
    if approval is None:
        return {"skipped": "approval request no longer exists"}
    text = (
        f":warning: Approval request `{approval.id}` ({approval.risk.value} risk) could not be posted to Slack "
        f"after its retries (outbox row {payload.get('outbox_id')} is dead); the agent waits. "
        "`python app.py outbox` shows why; `python app.py outbox --requeue <id>` tries again."
    )
    await slack.call(ctx, "chat.postMessage", channel=channel, text=text)
    return {"channel": channel}


# The outbox kinds this module delivers (given to the wiring by the concept's setup).
OUTBOX: dict[str, Handler] = {
    "slack.approval.post": post,
    "slack.approval.update": update,
    "slack.approval.reply": reply,
    "slack.approval.ephemeral": ephemeral,
    "slack.approval.remind": remind,
    "slack.approval.dm": direct_message,
    "slack.approval.undeliverable": undeliverable,
}
