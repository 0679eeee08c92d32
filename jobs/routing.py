"""Which domain functions a verified webhook delivery calls: a router keyed by (source, event, action).

Like gidgethub's router: several callbacks may register for one event (incidents and coding requests
both follow GitHub pull requests), and ``action=None`` means every action. Callbacks run in the
delivery's processing transaction on the service's own connection, in registration order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class WebhookEvent:
    source: str  # "sentry" | "github" | "linear"
    delivery_id: str
    event_type: str  # Sentry-Hook-Resource, X-GitHub-Event, Linear-Event (payload "type")
    action: str | None  # the payload's "action", where the sender gives one
    payload: dict[str, Any]
    received_at: datetime


Callback = Callable[[asyncpg.Connection, WebhookEvent], Awaitable[None]]
# Several consecutive deliveries of one order key, applied at once (a burst of events of one Sentry issue).
ManyCallback = Callable[[asyncpg.Connection, list[WebhookEvent]], Awaitable[None]]


class Router:
    def __init__(self) -> None:
        self._callbacks: dict[tuple[str, str, str | None], list[Callback]] = defaultdict(list)
        self._many: dict[tuple[str, str, str | None], ManyCallback] = {}

    def add(self, source: str, event_type: str, callback: Callback, *actions: str | None) -> None:
        """Call ``callback`` for (source, event_type) deliveries with one of ``actions`` (none given: any)."""
        for action in actions or (None,):
            self._callbacks[(source, event_type, action)].append(callback)

    def add_many(self, source: str, event_type: str, callback: ManyCallback, *actions: str | None) -> None:
        """Like ``add``, for a callback that takes a list of deliveries: the inbox hands it consecutive
        deliveries of one order key together when it is the only callback for them."""

        async def one(conn: asyncpg.Connection, event: WebhookEvent) -> None:
            await callback(conn, [event])

        self.add(source, event_type, one, *actions)
        for action in actions or (None,):
            self._many[(source, event_type, action)] = callback

    def coalescer(self, event: WebhookEvent) -> ManyCallback | None:
        """The list-taking callback that alone handles ``event``, if there is one."""
        if len(self.callbacks(event)) != 1:
            return None
        return self._many.get((event.source, event.event_type, event.action)) or self._many.get(
            (event.source, event.event_type, None)
        )

    def handles(self, source: str, event_type: str, action: str | None) -> bool:
        """Whether any callback would run for such a delivery (decided without running it)."""
        return bool(
            self._callbacks.get((source, event_type, action)) or self._callbacks.get((source, event_type, None))
        )

    def callbacks(self, event: WebhookEvent) -> list[Callback]:
        any_action = self._callbacks.get((event.source, event.event_type, None), [])
        if event.action is None:  # only the every-action callbacks, once each
            return list(any_action)
        exact = self._callbacks.get((event.source, event.event_type, event.action), [])
        return [*any_action, *exact]

    def knows(self, event: WebhookEvent) -> bool:
        return bool(self.callbacks(event))

    async def dispatch(self, conn: asyncpg.Connection, event: WebhookEvent) -> bool:
        """Run every matching callback; False when none matched (stored, not acted on: 202)."""
        found = self.callbacks(event)
        for fn in found:
            await fn(conn, event)
        return bool(found)
