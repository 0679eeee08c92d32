"""Filing coding requests from Slack: ``/coding-request``, the "Send to coding agent" message shortcut, the modal.

Each listener acks at once; the only call before that answer returns is ``views.open`` with the trigger id
(it expires in 3 s). A modal submission is stored first (one short transaction) and then acked, so an
acknowledged filing is never lost; the requester's name and the message's permalink are filled in
afterwards through the outbox (domain/coding_requests/enrich.py), so a Slack outage cannot break a filing.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

import logs
from db.errors import UNAVAILABLE
from domain.coding_requests import blocks as views
from domain.coding_requests import enrich
from domain.coding_requests import store as coding_requests
from domain.coding_requests.rules import NewRequest, SlackOrigin
from handlers.keys import POOL

TITLE_FROM_MESSAGE_MAX = 80
STORE_FAILED = "The request could not be filed just now (the database is unavailable): submit again in a minute."


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
    async def on_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        draft = views.parse_submission(view)
        if isinstance(draft, dict):
            await ack(response_action="errors", errors=draft)
            return
        new = NewRequest(
            source="slack",
            source_id=draft.origin.source_id,
            source_url=None,
            title=draft.title,
            description=draft.description,
            request_type=draft.request_type,
            priority=draft.priority,
            requested_by_id=body["user"]["id"],
            requested_by_name=None,
            requested_by_email=None,
        )
        try:
            async with app[POOL].acquire() as conn, conn.transaction():
                req, created = await coding_requests.create(conn, new)
                if created:
                    await enrich.queue(conn, req)
        except UNAVAILABLE as exc:
            logs.event("coding_request.store_failed", logging.ERROR, source_id=new.source_id, error=str(exc))
            await ack(response_action="errors", errors={views.Field.TITLE: STORE_FAILED})
            return
        await ack()
        if not created:
            logs.event("coding_request.duplicate_submission", number=req.request_number, source_id=new.source_id)
