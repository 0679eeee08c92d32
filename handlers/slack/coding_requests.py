"""Filing coding requests from Slack: ``/coding-request``, the "Send to coding agent" message shortcut, the modal.

Each listener acks first; the only call before that answer returns is ``views.open`` with the trigger id
(it expires in 3 s). ``users.info`` and ``chat.getPermalink`` run after the modal submission was acked.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

import logs
from domain.coding_requests import blocks as views
from domain.coding_requests import store as coding_requests
from domain.coding_requests.rules import NewRequest, SlackOrigin
from handlers.keys import POOL

TITLE_FROM_MESSAGE_MAX = 80


async def _profile(client: AsyncWebClient, user_id: str) -> tuple[str | None, str | None]:
    """(name, email) from users.info; (None, None) when Slack cannot say (the request is filed anyway)."""
    try:
        user = (await client.users_info(user=user_id)).get("user") or {}
    except SlackApiError as exc:
        logs.event("slack.users_info_failed", logging.WARNING, user=user_id, error=str(exc.response.get("error")))
        return None, None
    profile = user.get("profile") or {}
    name = profile.get("real_name") or user.get("real_name") or profile.get("display_name") or user.get("name")
    return name, profile.get("email")


async def _permalink(client: AsyncWebClient, origin: SlackOrigin) -> str | None:
    if origin.kind != "message" or not origin.channel:
        return None
    message_ts = origin.key.partition(":")[2]
    try:
        found = await client.chat_getPermalink(channel=origin.channel, message_ts=message_ts)
    except SlackApiError as exc:
        logs.event("slack.permalink_failed", logging.WARNING, channel=origin.channel, error=str(exc))
        return None
    link = found.get("permalink")
    return link if isinstance(link, str) else None


def register(bolt: AsyncApp, app: web.Application) -> None:
    @bolt.command(views.COMMAND)
    async def on_command(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        parsed = views.parse_command(command.get("text", ""))
        if parsed.kind == "open":
            await ack()
            origin = SlackOrigin("command", command["trigger_id"])
            await client.views_open(trigger_id=command["trigger_id"], view=views.modal(origin, title=parsed.title))
        elif parsed.kind == "status" and parsed.number is not None:
            async with app[POOL].acquire() as conn:
                found = await coding_requests.get(conn, parsed.number)
            await ack(**views.status_answer(parsed.number, found))
        elif parsed.kind == "mine":
            mine = await coding_requests.open_for_requester(app[POOL], command["user_id"])
            await ack(**views.mine_answer(mine))
        else:
            await ack(text=views.HELP)

    @bolt.shortcut(views.CallbackId.SHORTCUT.value)
    async def on_shortcut(ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        message = shortcut.get("message") or {}
        channel = (shortcut.get("channel") or {}).get("id") or ""
        origin = SlackOrigin.for_message(channel, str(message.get("ts", "")), message.get("thread_ts"))
        text = str(message.get("text") or "")
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        await client.views_open(
            trigger_id=shortcut["trigger_id"],
            view=views.modal(origin, title=first_line[:TITLE_FROM_MESSAGE_MAX], description=text),
        )

    @bolt.view(views.CallbackId.MODAL.value)
    async def on_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient) -> None:
        draft = views.parse_submission(view)
        if isinstance(draft, dict):
            await ack(response_action="errors", errors=draft)
            return
        await ack()
        user_id = body["user"]["id"]
        name, email = await _profile(client, user_id)
        new = NewRequest(
            source="slack",
            source_id=draft.origin.source_id,
            source_url=await _permalink(client, draft.origin),
            title=draft.title,
            description=draft.description,
            request_type=draft.request_type,
            priority=draft.priority,
            requested_by_id=user_id,
            requested_by_name=name,
            requested_by_email=email,
        )
        async with app[POOL].acquire() as conn, conn.transaction():
            req, created = await coding_requests.create(conn, new)
        if not created:
            logs.event("coding_request.duplicate_submission", number=req.request_number, source_id=new.source_id)
