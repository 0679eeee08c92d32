"""Approve / Reject clicks and the reject-reason modal. Each listener acks first; the database decides once.

Nothing here calls Slack before ``ack()`` except ``views.open``, which must use the click's trigger_id
at once. Explanations (refused, already decided, expired) are ephemeral messages sent through the
outbox (a DM for a click from outside a channel), as are the message update and the thread reply that
follow a decision. "Anyone in the channel" (levels with no approver list) holds only for a click on the
request's own message: App Home shows buttons to every workspace member, so a click there needs a list.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

import logs
from db.transactions import run_in_transaction
from domain.approvals import store as approvals
from domain.approvals.blocks import REASON_BLOCK, ActionId, CallbackId, modal_origin, reason_from, reject_modal
from domain.approvals.policy import Verdict, approvers_for, judge, may_decide
from domain.approvals.rules import Approval, Decision, InvalidField, is_open, parse_reason, why_closed
from handlers.keys import GROUP_MEMBERS, POOL
from jobs import outbox

APPROVERS_KEY = "approvals.approvers"


def closed_text(approval: Approval, now: datetime) -> str:
    """Why a click on a request that is no longer pending changes nothing."""
    return why_closed(
        approval.status,
        resolved_by=approval.resolved_by,
        resolved_at=approval.resolved_at,
        expires_at=approval.expires_at,
        now=now,
    )


async def explain(pool: asyncpg.Pool, *, channel: str | None, user: str, text: str) -> None:
    """An ephemeral note to ``user`` (or a DM when the click came from outside a channel)."""
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, "slack.approval.ephemeral", {"channel": channel, "user": user, "text": text})


def _parse_id(raw: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


def _channel_of(body: dict[str, Any]) -> str | None:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    return channel if isinstance(channel, str) else None


def _from_message(body: dict[str, Any]) -> bool:
    """The click was on a message (the request's, in its channel), not in App Home or another view."""
    return (body.get("container") or {}).get("type") == "message"


def _where(approval: Approval, channel: str | None, from_message: bool) -> tuple[str | None, bool]:
    """(where to explain: a channel, or None for a DM; whether the click was made in the request's channel).

    Our buttons are on a message only where the request was posted: a click on a message is in its channel."""
    if not from_message:
        return None, False
    return channel or approval.slack_channel_id, True


async def _verdict(
    setting: Any,
    approval: Approval,
    user: str,
    members_of: Callable[[str], Awaitable[frozenset[str]]],
    *,
    in_channel: bool,
) -> Verdict:
    """``may_decide``, asking Slack for user-group members only when the user's own id does not settle it."""
    verdict = judge(setting, approval.risk, user, in_channel=in_channel)
    if verdict.allowed or not approvers_for(setting, approval.risk)[1]:
        return verdict
    return await may_decide(setting, approval.risk, user, members_of, in_channel=in_channel)


async def decide_click(
    pool: asyncpg.Pool,
    members_of: Callable[[str], Awaitable[frozenset[str]]],
    *,
    raw_id: Any,
    user: str,
    channel: str | None,
    decision: Decision,
    reason: str | None = None,
    from_message: bool = True,
) -> bool:
    """Check, authorise and record one person's decision; explain to them when it does not count.

    ``from_message``: the click was on a message (else App Home), in ``channel`` when known."""
    approval_id = _parse_id(raw_id)
    approval, setting = await approvals.for_click(pool, approval_id, APPROVERS_KEY) if approval_id else (None, None)
    if approval_id is None or approval is None:
        await explain(pool, channel=channel, user=user, text="This approval request no longer exists.")
        return False
    channel, in_channel = _where(approval, channel, from_message)
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "approval_id": str(approval_id),
        "user": user,
        "decision": decision.value,
        "in_channel": in_channel,
    }
    if not is_open(approval.status, approval.expires_at, now):
        logs.event("slack.approvals.closed", status=approval.status, **fields)
        await explain(pool, channel=channel, user=user, text=closed_text(approval, now))
        return False
    verdict = await _verdict(setting, approval, user, members_of, in_channel=in_channel)
    if not verdict.allowed:
        logs.event("slack.approvals.refused", reason=verdict.reason, **fields)
        await explain(pool, channel=channel, user=user, text=f"You may not decide this request: {verdict.reason}.")
        return False

    async def record(conn: asyncpg.Connection) -> approvals.Outcome:
        outcome = await approvals.decide(conn, approval_id, decision, by=user, reason=reason)
        if not outcome.won and outcome.approval is not None:
            late = outcome.approval
            text = why_closed(
                late.status,
                resolved_by=late.resolved_by,
                resolved_at=late.resolved_at,
                expires_at=late.expires_at,
                now=datetime.now(UTC),
            )
            await outbox.enqueue(conn, "slack.approval.ephemeral", {"channel": channel, "user": user, "text": text})
        return outcome

    # Slack was acked already: a deadlock with an agent's transaction must not lose the decision.
    outcome = await run_in_transaction(pool, record, name="approvals.decide")
    logs.event("slack.approvals.decided" if outcome.won else "slack.approvals.lost_race", **fields)
    return outcome.won


def register(bolt: AsyncApp, app: web.Application) -> None:

    @bolt.block_action(ActionId.APPROVE)
    async def approve(ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await decide_click(
            app[POOL],
            app[GROUP_MEMBERS].lookup(client),
            raw_id=action.get("value"),
            user=body["user"]["id"],
            channel=_channel_of(body),
            decision=Decision.APPROVED,
            from_message=_from_message(body),
        )

    @bolt.block_action(ActionId.REJECT)
    async def reject(ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        pool, user, channel = app[POOL], body["user"]["id"], _channel_of(body)
        approval_id = _parse_id(action.get("value"))
        found = await approvals.for_click(pool, approval_id, APPROVERS_KEY) if approval_id else (None, None)
        approval, setting = found
        if approval is None:
            await explain(pool, channel=channel, user=user, text="This approval request no longer exists.")
            return
        from_message = _from_message(body)
        channel, in_channel = _where(approval, channel, from_message)
        now = datetime.now(UTC)
        if not is_open(approval.status, approval.expires_at, now):
            await explain(pool, channel=channel, user=user, text=closed_text(approval, now))
            return
        verdict = judge(setting, approval.risk, user, in_channel=in_channel)
        if not verdict.allowed and not approvers_for(setting, approval.risk)[1]:
            # Refused whatever the user's groups (none are configured): say so instead of opening the modal.
            logs.event(
                "slack.approvals.refused",
                reason=verdict.reason,
                approval_id=str(approval.id),
                user=user,
                decision=Decision.REJECTED.value,
                in_channel=in_channel,
            )
            await explain(pool, channel=channel, user=user, text=f"You may not decide this request: {verdict.reason}.")
            return
        # The trigger_id is valid for 3 s: open the modal now; group membership is checked on submit.
        await client.views_open(
            trigger_id=body["trigger_id"],
            view=reject_modal(str(approval.id), approval.action_type, from_message=in_channel),
        )

    @bolt.view_submission(CallbackId.REJECT_REASON)
    async def reject_reason(ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient) -> None:
        try:
            reason = parse_reason(reason_from(view.get("state") or {}))
        except InvalidField as exc:
            await ack(response_action="errors", errors={REASON_BLOCK: exc.problem})
            return
        if reason is None:
            await ack(response_action="errors", errors={REASON_BLOCK: "Say why, so the agent can adapt."})
            return
        await ack()
        raw_id, from_message = modal_origin(str(view.get("private_metadata") or ""))
        await decide_click(
            app[POOL],
            app[GROUP_MEMBERS].lookup(client),
            raw_id=raw_id,
            user=body["user"]["id"],
            channel=None,
            decision=Decision.REJECTED,
            reason=reason,
            from_message=from_message,
        )
