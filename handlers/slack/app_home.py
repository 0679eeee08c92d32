"""App Home: the user's open coding requests and the approvals they may decide, published on ``app_home_opened``.

The approval buttons are the approvals feature's (``approval_approve`` / ``approval_reject``, value = the
approval id); their listeners live there. Who may decide is ``domain.approvals.policy``; user-group
membership comes from ``usergroups.users.list``, cached for a minute.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from domain import settings
from domain.approvals import policy as approval_policy
from domain.approvals import store as approvals
from domain.approvals.rules import Approval
from domain.coding_requests import store as coding_requests
from domain.coding_requests.blocks import home_view
from handlers.keys import GROUP_MEMBERS, POOL

APPROVERS_KEY = "approvals.approvers"


async def decidable_approvals(
    pool: asyncpg.Pool, user_id: str, members_of: Callable[[str], Awaitable[frozenset[str]]]
) -> list[Approval]:
    """The pending, unexpired approvals ``user_id`` may decide under ``approvals.approvers``."""
    setting = await settings.get(pool, APPROVERS_KEY, {})
    return [
        a
        for a in await approvals.pending(pool)
        if (await approval_policy.may_decide(setting, a.risk, user_id, members_of)).allowed
    ]


def register(bolt: AsyncApp, app: web.Application) -> None:

    @bolt.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user_id = event["user"]
        pool = app[POOL]
        mine = await coding_requests.open_for_requester(pool, user_id)
        approvals = await decidable_approvals(pool, user_id, app[GROUP_MEMBERS].lookup(client))
        await client.views_publish(user_id=user_id, view=home_view(mine, approvals))
