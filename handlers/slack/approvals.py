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
from db.listen import Hub
from db.transactions import run_in_transaction
from domain.approvals import store as approvals
from domain.approvals import watch
from domain.approvals.blocks import (
    REASON_BLOCK,
    ActionId,
    CallbackId,
    modal_origin,
    option_from,
    reason_from,
    reject_modal,
)
from domain.approvals.edit_check import errors_of
from domain.approvals.edits import edit_modal, values_from
from domain.approvals.extras import extras
from domain.approvals.policy import approvers_for, judge, may_decide
from domain.approvals.rules import Approval, Decision, InvalidField, is_open, parse_reason, why_closed
from domain.bus import events as bus
from handlers.keys import CONFIG, GROUP_MEMBERS, HUB, POOL
from handlers.slack.bolt import FAST_PATHS
from integrations.slack import client as slack_api
from jobs import outbox

VOTE_NOTES = {
    approvals.Vote.COUNTED: "Your approval is counted; this request needs more approvers before it goes ahead.",
    approvals.Vote.DUPLICATE: "You have voted on this request already; your vote counts once.",
    approvals.Vote.SELF: "You asked for this action, so you may not decide it; someone else must.",
}


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
    edited_details: dict[str, Any] | None = None,
    reject_option: str | None = None,
    hub: Hub | None = None,
) -> bool:
    """Check, authorise and record one person's decision; explain to them when it does not count.

    ``from_message``: the click was on a message (else App Home), in ``channel`` when known. With ``hub``
    the vote's transaction sends no NOTIFY (its commit then shares a WAL flush with the other clicks') and
    the vote is announced after the commit."""
    approval_id = _parse_id(raw_id)
    found = await watch.for_click(pool, approval_id) if approval_id else None
    if approval_id is None or found is None:
        await explain(pool, channel=channel, user=user, text="This approval request no longer exists.")
        return False
    approval, setting = found
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
    verdict = await may_decide(setting, approval.risk, user, members_of, in_channel=in_channel)
    if not verdict.allowed:
        logs.event("slack.approvals.refused", reason=verdict.reason, **fields)
        await explain(pool, channel=channel, user=user, text=f"You may not decide this request: {verdict.reason}.")
        return False

    async def record(conn: asyncpg.Connection) -> approvals.Outcome:
        outcome = await approvals.decide(
            conn,
            approval_id,
            decision,
            by=user,
            reason=reason,
            edited_details=edited_details,
            reject_option=reject_option,
            announce_after_commit=hub is not None,
        )
        note = VOTE_NOTES.get(outcome.vote)
        if note is not None:
            await outbox.enqueue(conn, "slack.approval.ephemeral", {"channel": channel, "user": user, "text": note})
        elif not outcome.won and outcome.approval is not None:
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
    if hub is not None:
        hub.announce(outbox.CHANNEL)
        if outcome.won:
            hub.announce(approvals.NOTIFY_CHANNEL, str(approval_id))
            hub.announce(bus.CHANNEL)
    logs.event("slack.approvals.decided" if outcome.won else f"slack.approvals.vote_{outcome.vote.value}", **fields)
    return outcome.won


async def _openable(
    pool: asyncpg.Pool, body: dict[str, Any], action: dict[str, Any], decision: Decision
) -> tuple[Approval, bool] | None:
    """The request a Reject / Edit click opens a modal for, and whether the click was in its channel; None
    (after telling the clicker why) when there is nothing to open."""
    user, channel = body["user"]["id"], _channel_of(body)
    approval_id = _parse_id(action.get("value"))
    found = await watch.for_click(pool, approval_id) if approval_id else None
    if found is None:
        await explain(pool, channel=channel, user=user, text="This approval request no longer exists.")
        return None
    approval, setting = found
    channel, in_channel = _where(approval, channel, _from_message(body))
    now = datetime.now(UTC)
    if not is_open(approval.status, approval.expires_at, now):
        await explain(pool, channel=channel, user=user, text=closed_text(approval, now))
        return None
    verdict = judge(setting, approval.risk, user, in_channel=in_channel)
    if not verdict.allowed and not approvers_for(setting, approval.risk)[1]:
        # Refused whatever the user's groups (none are configured): say so instead of opening the modal.
        logs.event(
            "slack.approvals.refused",
            reason=verdict.reason,
            approval_id=str(approval.id),
            user=user,
            decision=decision.value,
            in_channel=in_channel,
        )
        await explain(pool, channel=channel, user=user, text=f"You may not decide this request: {verdict.reason}.")
        return None
    return approval, in_channel


def register(bolt: AsyncApp, app: web.Application) -> None:
    made: list[AsyncWebClient] = []

    def web_client() -> AsyncWebClient:
        """Bolt's listeners get a client with the token from ``authorize``; the fast path makes its own."""
        if not made:
            made.append(slack_api.make_client(app[CONFIG]))
        return made[0]

    async def approve_with(client: AsyncWebClient, body: dict[str, Any], action: dict[str, Any]) -> None:
        await decide_click(
            app[POOL],
            app[GROUP_MEMBERS].lookup(client),
            raw_id=action.get("value"),
            user=body["user"]["id"],
            channel=_channel_of(body),
            decision=Decision.APPROVED,
            from_message=_from_message(body),
            hub=app[HUB],
        )

    async def approve_now(body: dict[str, Any]) -> None:
        """An Approve click over HTTP, answered already (``bolt.FAST_PATHS``)."""
        await approve_with(web_client(), body, body["actions"][0])

    app.setdefault(FAST_PATHS, {})[ActionId.APPROVE] = approve_now

    @bolt.block_action(ActionId.APPROVE)
    async def approve(ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await approve_with(client, body, action)

    @bolt.block_action(ActionId.REJECT)
    async def reject(ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        pool = app[POOL]
        found = await _openable(pool, body, action, Decision.REJECTED)
        if found is None:
            return
        approval, in_channel = found
        options = (await extras(pool, approval.id)).reject_options
        # The trigger_id is valid for 3 s: open the modal now; group membership is checked on submit.
        await client.views_open(
            trigger_id=body["trigger_id"],
            view=reject_modal(str(approval.id), approval.action_type, from_message=in_channel, options=options),
        )

    @bolt.block_action(ActionId.EDIT)
    async def edit(ack: Any, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        pool = app[POOL]
        found = await _openable(pool, body, action, Decision.APPROVED)
        if found is None:
            return
        approval, in_channel = found
        editable = (await extras(pool, approval.id)).editable
        if editable is None:
            await explain(
                pool, channel=_channel_of(body), user=body["user"]["id"], text="This request has nothing to edit."
            )
            return
        view = edit_modal(
            str(approval.id), approval.action_type, editable, approval.action_details, from_message=in_channel
        )
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    @bolt.view_submission(CallbackId.EDIT)
    async def edit_submit(ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient) -> None:
        pool = app[POOL]
        raw_id, from_message = modal_origin(str(view.get("private_metadata") or ""))
        approval_id = _parse_id(raw_id)
        approval = await approvals.get(pool, approval_id) if approval_id else None
        editable = (await extras(pool, approval.id)).editable if approval else None
        if approval is None or editable is None:
            await ack()
            await explain(pool, channel=None, user=body["user"]["id"], text="This approval request no longer exists.")
            return
        values, errors = values_from(view.get("state") or {}, editable, approval.action_details)
        errors = errors or errors_of(values, editable)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        await decide_click(
            pool,
            app[GROUP_MEMBERS].lookup(client),
            raw_id=raw_id,
            user=body["user"]["id"],
            channel=None,
            decision=Decision.APPROVED,
            from_message=from_message,
            edited_details=values,
            hub=app[HUB],
        )

    @bolt.view_submission(CallbackId.REJECT_REASON)
    async def reject_reason(ack: Any, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient) -> None:
        raw_id, from_message = modal_origin(str(view.get("private_metadata") or ""))
        approval_id = _parse_id(raw_id)
        options = (await extras(app[POOL], approval_id)).reject_options if approval_id else ()
        state = view.get("state") or {}
        option = option_from(state, options)
        try:
            reason = parse_reason(reason_from(state))
        except InvalidField as exc:
            await ack(response_action="errors", errors={REASON_BLOCK: exc.problem})
            return
        if reason is None and option is None:
            await ack(response_action="errors", errors={REASON_BLOCK: "Say why, so the agent can adapt."})
            return
        await ack()
        await decide_click(
            app[POOL],
            app[GROUP_MEMBERS].lookup(client),
            raw_id=raw_id,
            user=body["user"]["id"],
            channel=None,
            decision=Decision.REJECTED,
            reason=reason or option,
            from_message=from_message,
            reject_option=option,
            hub=app[HUB],
        )
