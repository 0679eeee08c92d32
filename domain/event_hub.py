"""Wakes the event streams of this process when the bus moves.

One LISTEN connection per process on channel ``agent_events``. A NOTIFY (sent by the offsets trigger
on commit, from any replica) only sets each stream's wake flag: streams always read the rows from the
table after the last offset they sent, so nothing is lost when a notification is missed. When the
LISTEN connection drops it is re-established with backoff, and every stream is woken to re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

import logs

CHANNEL = "agent_events"
PING_S = 10.0
MAX_BACKOFF_S = 5.0


class Hub:
    def __init__(self) -> None:
        self._waiters: set[asyncio.Event] = set()
        self.closing = False
        self.listening = asyncio.Event()
        self.listener_pid: int | None = None

    def subscribe(self) -> asyncio.Event:
        wake = asyncio.Event()
        self._waiters.add(wake)
        return wake

    def unsubscribe(self, wake: asyncio.Event) -> None:
        self._waiters.discard(wake)

    def wake_all(self) -> None:
        for wake in self._waiters:
            wake.set()

    @property
    def streams(self) -> int:
        return len(self._waiters)

    def close(self) -> None:
        self.closing = True
        self.wake_all()

    def _on_notify(self, *_: object) -> None:
        self.wake_all()

    async def listen(self, dsn: str) -> None:
        """Keep one LISTEN connection up for as long as the task runs (its own, outside the pool)."""
        backoff = 0.1
        while not self.closing:
            try:
                conn: asyncpg.Connection = await asyncpg.connect(dsn, timeout=10)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logs.event("bus.listen_failed", logging.WARNING, error=repr(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            lost = asyncio.Event()
            try:
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                self.listener_pid = conn.get_server_pid()
                self.listening.set()
                backoff = 0.1
                logs.event("bus.listening", pid=self.listener_pid)
                self.wake_all()  # whatever committed while nobody listened is read now
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), PING_S)
                    except TimeoutError:
                        await asyncio.wait_for(conn.fetchval("SELECT 1"), 5)  # a half-open socket shows here
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logs.event("bus.listen_lost", logging.WARNING, error=repr(exc))
            finally:
                self.listening.clear()
                self.listener_pid = None
                with contextlib.suppress(Exception):
                    if not conn.is_closed():
                        await conn.remove_listener(CHANNEL, self._on_notify)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2)
                self.wake_all()
            if not self.closing:
                logs.event("bus.listen_reconnecting", retry_in_s=backoff)
                await asyncio.sleep(backoff)
