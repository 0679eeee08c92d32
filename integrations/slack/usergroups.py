"""Slack user-group membership for the approver rules: ``usergroups.users.list``, cached briefly per group."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

import logs

CACHE_S = 60.0


class GroupMembers:
    def __init__(self, ttl_s: float = CACHE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def lookup(self, client: AsyncWebClient) -> Callable[[str], Awaitable[frozenset[str]]]:
        """``members_of(group_id)`` for ``domain.approvals.policy.may_decide``."""

        async def members_of(group_id: str) -> frozenset[str]:
            hit = self._cache.get(group_id)
            if hit is not None and hit[0] > self.clock():
                return hit[1]
            try:
                response = await client.usergroups_users_list(usergroup=group_id)
                members = frozenset(response.get("users") or [])
            except SlackApiError as exc:
                # An unknown group or a missing usergroups:read scope: nobody is a member (refused, logged).
                logs.event("slack.usergroup_failed", logging.WARNING, group=group_id, error=str(exc))
                return frozenset()
            self._cache[group_id] = (self.clock() + self.ttl_s, members)
            return members

        return members_of
