"""App Home: the user's open coding requests and the approvals waiting for them, published on ``app_home_opened``.

Every workspace member can open App Home, so it offers the decision buttons (``approval_approve`` /
``approval_reject``, value = the approval id; their listeners live in ``handlers.slack.approvals``) only
to the approvers an explicit ``approvals.approvers`` list names. A request at a level without a list
(anyone *in its channel* may decide it) is shown with a link to its message in the channel instead.
Who may decide is ``domain.approvals.policy``; user-group membership comes from ``usergroups.users.list``,
cached for a minute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from domain import settings
from domain.approvals import policy as approval_policy
from domain.approvals import store as approvals
from domain.approvals.rules import Approval
from domain.coding_requests import store as coding_requests
from domain.coding_requests.blocks import HOME_APPROVALS_MAX, home_view, message_link
from handlers.keys import GROUP_MEMBERS, POOL

APPROVERS_KEY = "approvals.approvers"


async def home_approvals(
    pool: asyncpg.Pool, user_id: str, members_of: Callable[[str], Awaitable[frozenset[str]]]
) -> tuple[list[Approval], list[Approval]]:
    """Pending, unexpired approvals: (those ``user_id`` is a listed approver of, those decided in their channel)."""
    setting = await settings.get(pool, APPROVERS_KEY, {})
    listed: list[Approval] = []
    in_channel: list[Approval] = []
    for a in await approvals.pending(pool):
        if approval_policy.decided_in_channel(setting, a.risk):
            in_channel.append(a)
        elif (await approval_policy.may_decide(setting, a.risk, user_id, members_of, in_channel=False)).allowed:
            listed.append(a)
    return listed, in_channel


async def permalink(client: AsyncWebClient, approval: Approval) -> str | None:
    """The link to the request's message: Slack's permalink, else one built from its channel and timestamp."""
    if not approval.slack_channel_id or not approval.slack_message_ts:
        return None
    try:
        found = await client.chat_getPermalink(channel=approval.slack_channel_id, message_ts=approval.slack_message_ts)
        link = found.get("permalink")
        if isinstance(link, str) and link.startswith("https://"):
            return link
    except SlackClientError:
        pass
    return message_link(approval.slack_channel_id, approval.slack_message_ts)


def register(bolt: AsyncApp, app: web.Application) -> None:

    @bolt.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user_id = event["user"]
        pool = app[POOL]
        mine = await coding_requests.open_for_requester(pool, user_id)
        listed, in_channel = await home_approvals(pool, user_id, app[GROUP_MEMBERS].lookup(client))
        in_channel = in_channel[:HOME_APPROVALS_MAX]
        links = await asyncio.gather(*(permalink(client, a) for a in in_channel))
        await client.views_publish(
            user_id=user_id, view=home_view(mine, listed, list(zip(in_channel, links, strict=True)))
        )
