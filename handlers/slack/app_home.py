"""App Home: the user's open coding requests and the approvals they may decide, published on ``app_home_opened``.

The approval buttons are the approvals feature's (``approval_approve`` / ``approval_reject``, value = the
approval id); their listeners live there. Who may decide is ``domain.approval_policy``; user-group
membership comes from ``usergroups.users.list``, cached for a minute.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import asyncpg
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

import logs
from domain import approval_policy, coding_requests, settings
from handlers import slack
from handlers.keys import POOL
from handlers.slack.coding_request_views import PendingApproval, home_view

PENDING_APPROVALS = """
SELECT id, agent_name, action_type, risk_level, action_details
FROM approval_requests
WHERE status = 'pending' AND expires_at > now()
ORDER BY created_at
LIMIT 100
"""
APPROVERS_KEY = "approvals.approvers"
GROUP_CACHE_S = 60.0
RISKS = frozenset(r.value for r in approval_policy.RiskLevel)


class GroupMembers:
    """``members_of(group_id)`` for approval_policy, from usergroups.users.list, cached ``ttl_s`` seconds."""

    def __init__(self, ttl_s: float = GROUP_CACHE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.clock = ttl_s, clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def bind(self, client: AsyncWebClient) -> Callable[[str], Any]:
        async def members_of(group_id: str) -> frozenset[str]:
            hit = self._cache.get(group_id)
            if hit and hit[0] > self.clock():
                return hit[1]
            try:
                users = frozenset((await client.usergroups_users_list(usergroup=group_id)).get("users") or [])
            except SlackApiError as exc:
                logs.event("slack.usergroup_failed", logging.WARNING, usergroup=group_id, error=str(exc))
                return hit[1] if hit else frozenset()
            self._cache[group_id] = (self.clock() + self.ttl_s, users)
            return users

        return members_of


def _summary(details: Any) -> str:
    if isinstance(details, dict):
        for key in ("summary", "description", "reason", "title"):
            if isinstance(details.get(key), str):
                return str(details[key])
    return json.dumps(details, separators=(",", ":"), default=str)[:300] if details else ""


async def decidable_approvals(
    pool: asyncpg.Pool, user_id: str, members_of: Callable[[str], Any]
) -> list[PendingApproval]:
    """The pending, unexpired approvals ``user_id`` may decide under ``approvals.approvers``."""
    setting = await settings.get(pool, APPROVERS_KEY, {})
    found = []
    for row in await pool.fetch(PENDING_APPROVALS):
        if row["risk_level"] not in RISKS:
            continue
        risk = approval_policy.RiskLevel(row["risk_level"])
        verdict = await approval_policy.may_decide(setting, risk, user_id, members_of)
        if verdict.allowed:
            found.append(
                PendingApproval(
                    id=str(row["id"]),
                    agent_name=row["agent_name"],
                    action_type=row["action_type"],
                    risk_level=row["risk_level"],
                    summary=_summary(row["action_details"]),
                )
            )
    return found


def register(bolt: AsyncApp, app: web.Application) -> None:
    groups = GroupMembers()

    @bolt.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        user_id = event["user"]
        pool = app[POOL]
        mine = await coding_requests.open_for_requester(pool, user_id)
        approvals = await decidable_approvals(pool, user_id, groups.bind(client))
        await client.views_publish(user_id=user_id, view=home_view(mine, approvals))


slack.REGISTRARS.append(register)
