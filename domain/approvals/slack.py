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
from domain.approvals.blocks import decided_message, request_message, thread_reply
from domain.approvals.rules import Approval, channel_for
from integrations.slack import client as slack
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
        **request_message(approval),
    )
    ts, posted_in = str(data["ts"]), str(data.get("channel") or channel)
    await approvals.mark_posted(ctx.pool, approval.id, posted_in, ts, approval.slack_thread_ts or ts)
    return {"channel": posted_in, "ts": ts, "adopted": adopted}


async def update(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    approval = await _load(ctx, payload)
    if approval is None:
        return {"skipped": "approval request no longer exists"}
    channel, ts = _posted(approval)
    await slack.call(ctx, "chat.update", channel=channel, ts=ts, **decided_message(approval))
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


# The outbox kinds this module delivers (given to the wiring by the concept's setup).
OUTBOX: dict[str, Handler] = {
    "slack.approval.post": post,
    "slack.approval.update": update,
    "slack.approval.reply": reply,
    "slack.approval.ephemeral": ephemeral,
}
