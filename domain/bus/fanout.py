"""One reader per process: new bus rows are fetched once and fanned out in memory to every stream.

The reader wakes on the ``agent_events`` NOTIFY (db/listen.py) and at least every ``POLL_S``, runs the
sequencer (so committed rows get their seq), fetches the rows after the highest seq it has seen, as the
owner, and hands each to the subscriptions whose filter matches it and whose caller's role the seed's RLS
lets read it (``events.visible_to``). A subscription is a bounded queue: one whose consumer falls behind
by ``DEPTH`` events is dropped to ``behind`` and reads its backlog from the table itself (as its
caller, by cursor), then asks to be live again. So a slow client never makes the process buffer more than
``DEPTH`` events for it, and no event is lost or doubled across the hand-over (see ``Subscription``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque

import asyncpg

import logs
from domain.bus import events as bus

DEPTH = 256
BATCH = 500
POLL_S = 1.0
# Rounds start at least this far apart: a burst of commits is numbered, fetched and written to each stream
# in one round (one write per stream) instead of one round per commit, for at most this much latency.
ROUND_S = 0.01


class Subscription:
    """A stream's view of the reader.

    While live, the reader queues every visible matching event above the cursor and moves ``scanned`` to
    the highest seq it has fetched, matched or not. ``go_live(cursor)`` succeeds only when the reader has
    fetched nothing above ``cursor`` yet, so every later row reaches the queue; otherwise the consumer
    reads from the table again first."""

    def __init__(self, reader: Reader, where: bus.Filter, role: str) -> None:
        self.reader = reader
        self.where = where
        self.sees = bus.visible_to(role)
        self.queue: deque[bus.Event] = deque()
        self.scanned = 0
        self.behind = True
        self.wake = asyncio.Event()

    def go_live(self, cursor: int) -> bool:
        if cursor < self.reader.position:
            return False
        self.behind = False
        self.scanned = cursor
        return True

    def take(self) -> tuple[list[bus.Event], int]:
        """The queued events and how far they reach: every visible match up to ``scanned`` is among them
        (read both at once: a later overflow drops what is queued, and ``scanned`` no longer says so)."""
        taken = list(self.queue)
        self.queue.clear()
        return taken, self.scanned

    def _offer(self, event: bus.Event) -> None:
        if self.behind or not self.sees or not self.where.matches(event):
            return
        if len(self.queue) >= DEPTH:
            self.behind = True  # the consumer reads its backlog from the table from its own cursor
            self.queue.clear()
        else:
            self.queue.append(event)
        self.wake.set()


class Reader:
    def __init__(self) -> None:
        self.position = 0
        self.subscriptions: set[Subscription] = set()
        self.closing = False
        self._numbered: dict[uuid.UUID, asyncio.Future[bus.Event]] = {}

    def expect(self, event_id: uuid.UUID) -> asyncio.Future[bus.Event]:
        """A future the reader resolves with the event once it has fetched it with its seq. Call it before
        the event's transaction commits (nothing can number it earlier), and ``forget`` it afterwards."""
        future: asyncio.Future[bus.Event] = asyncio.get_running_loop().create_future()
        self._numbered[event_id] = future
        return future

    def forget(self, event_id: uuid.UUID) -> None:
        self._numbered.pop(event_id, None)

    def subscribe(self, where: bus.Filter, role: str) -> Subscription:
        subscription = Subscription(self, where, role)
        self.subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions.discard(subscription)

    def close(self) -> None:
        self.closing = True
        for subscription in self.subscriptions:
            subscription.wake.set()

    def _fan_out(self, events: list[bus.Event], upto: int) -> None:
        for event in events:
            for subscription in self.subscriptions:
                subscription._offer(event)
            if (future := self._numbered.pop(event.id, None)) is not None and not future.done():
                future.set_result(event)
        self.position = max(self.position, upto)
        for subscription in self.subscriptions:
            if not subscription.behind and subscription.scanned < self.position:
                subscription.scanned = self.position  # taken with the queue: a quiet stream is not woken

    async def _catch_up(self, conn: asyncpg.Connection) -> None:
        await bus.sequence(conn)
        while True:
            page = await bus.page_after(conn, self.position, limit=BATCH)
            self._fan_out(page.events, page.next)
            if page.next >= page.tail:
                return

    async def run(self, pool: asyncpg.Pool, wake: asyncio.Event) -> None:
        """Read and fan out until closed; ``wake`` is set by the ``agent_events`` NOTIFY."""
        async with pool.acquire() as conn:
            self.position = await bus.sequence(conn)
        loop = asyncio.get_running_loop()
        began = -ROUND_S
        while not self.closing:
            if (pause := began + ROUND_S - loop.time()) > 0:
                await asyncio.sleep(pause)
            began = loop.time()
            wake.clear()
            try:
                async with pool.acquire() as conn:
                    await self._catch_up(conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logs.event("bus.reader_failed", logging.WARNING, error=repr(exc))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_S):
                    await wake.wait()
