"""The one LISTEN connection of a process, shared by the bus streams, the outbox worker and long-polls.

A NOTIFY is only a wake-up: every subscriber re-reads its rows from the table, so nothing is lost when a
notification is missed. The connection is its own (not from the pool, so a pool reset never takes it),
is pinged so that a half-open socket shows, and is re-established with backoff when lost; after every
(re)connect all subscribers are woken to re-read what committed while nobody listened.

A subscriber names a channel and optionally a key: it is woken by that channel's notifications whose
payload equals the key (``approvals`` carries the approval id), or by all of them without a key.

``announce`` is a NOTIFY sent after a commit instead of inside the transaction: PostgreSQL serialises the
commits of notifying transactions on one lock held through each one's WAL flush (32 concurrent inserts:
~4,000/s without a NOTIFY, ~800/s with one). The process's own subscribers are woken at once, and the
other processes by a NOTIFY the hub sends on its own connection, in a transaction of its own that writes
nothing (no flush to wait for); its echo to this process is ignored. A transaction that will announce
sets ``swarm.notify`` to ``after_commit`` (``AFTER_COMMIT``), and the triggers then leave their NOTIFY out
(1070_notify_after_commit.sql).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator

import asyncpg

import logs

PING_S = 10.0
# A column (or statement) that makes the triggers of the caller's transaction leave their NOTIFY out.
AFTER_COMMIT = "set_config('swarm.notify', 'after_commit', true)"
APPLICATION_NAME = "swarm-bridge listen"  # how the connection shows in pg_stat_activity
MAX_BACKOFF_S = 5.0


class Hub:
    def __init__(self, channels: Iterable[str]) -> None:
        self.channels = tuple(channels)
        self._subscribers: dict[str, dict[str | None, set[asyncio.Event]]] = {
            channel: defaultdict(set) for channel in self.channels
        }
        self.closing = False
        self.listening = asyncio.Event()
        self.listener_pid: int | None = None
        self.last_error: str | None = None
        self._outgoing: set[tuple[str, str]] = set()
        self._send = asyncio.Event()

    def status(self) -> dict[str, object]:
        """For /readyz: ready while the LISTEN connection is up."""
        return {"ready": self.listening.is_set(), "pid": self.listener_pid, "error": self.last_error}

    def subscribe(self, channel: str, key: str | None = None) -> asyncio.Event:
        wake = asyncio.Event()
        self._subscribers[channel][key].add(wake)
        return wake

    def unsubscribe(self, channel: str, wake: asyncio.Event, key: str | None = None) -> None:
        by_key = self._subscribers[channel]
        by_key[key].discard(wake)
        if not by_key[key]:
            del by_key[key]

    @contextlib.contextmanager
    def watching(self, channel: str, key: str | None = None) -> Iterator[asyncio.Event]:
        """Subscribe for the block: subscribe first, then read, so no commit slips between."""
        wake = self.subscribe(channel, key)
        try:
            yield wake
        finally:
            self.unsubscribe(channel, wake, key)

    def subscribers(self, channel: str) -> int:
        return sum(len(waiters) for waiters in self._subscribers[channel].values())

    def wake_all(self) -> None:
        for by_key in self._subscribers.values():
            for waiters in by_key.values():
                for wake in waiters:
                    wake.set()

    def close(self) -> None:
        """Wake everyone for good: long-polls and streams end instead of holding a shutdown."""
        self.closing = True
        self.wake_all()

    def announce(self, channel: str, payload: str = "") -> None:
        """A committed change: wake this process's subscribers now, and the other processes' through a
        NOTIFY sent by the hub (dropped while the hub is down: they find the change at their next poll)."""
        self._wake(channel, payload)
        if self.listening.is_set():
            self._outgoing.add((channel, payload))
            self._send.set()

    def _on_notify(self, _conn: object, pid: int, channel: str, payload: str) -> None:
        if pid != self.listener_pid or self.listener_pid is None:
            self._wake(channel, payload)

    def _wake(self, channel: str, payload: str) -> None:
        by_key = self._subscribers.get(channel, {})
        for key in (None, payload):
            for wake in by_key.get(key, ()):
                wake.set()

    async def run(self, dsn: str) -> None:
        """Keep the LISTEN connection up for as long as the task runs."""
        backoff = 0.1
        while not self.closing:
            try:
                conn: asyncpg.Connection = await asyncpg.connect(
                    dsn, timeout=10, server_settings={"application_name": APPLICATION_NAME}
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = repr(exc)
                logs.event("listen.connect_failed", logging.WARNING, error=repr(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            lost = asyncio.Event()
            try:
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                for channel in self.channels:
                    await conn.add_listener(channel, self._on_notify)
                self.listener_pid = conn.get_server_pid()
                self.listening.set()
                self.last_error = None
                backoff = 0.1
                logs.event("listen.up", pid=self.listener_pid, channels=list(self.channels))
                self.wake_all()
                while not lost.is_set():
                    try:
                        async with asyncio.timeout(PING_S):
                            await _first(lost, self._send)
                    except TimeoutError:
                        async with asyncio.timeout(5):  # a half-open socket shows here
                            await conn.fetchval("SELECT 1")
                    if self._send.is_set() and not lost.is_set():
                        self._send.clear()
                        outgoing, self._outgoing = self._outgoing, set()
                        async with asyncio.timeout(5):
                            await conn.execute(SEND, [c for c, _ in outgoing], [p for _, p in outgoing])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = repr(exc)
                logs.event("listen.lost", logging.WARNING, error=repr(exc))
            finally:
                self.listening.clear()
                self.listener_pid = None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2)
                self.wake_all()
            if not self.closing:
                logs.event("listen.reconnecting", retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)


SEND = "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)"


async def _first(*events: asyncio.Event) -> None:
    """Until one of ``events`` is set."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


@contextlib.asynccontextmanager
async def running(hub: Hub, dsn: str) -> AsyncIterator[Hub]:
    """Run ``hub`` in a task for the block; closing wakes every subscriber for good."""
    task = asyncio.create_task(hub.run(dsn), name="listen-hub")
    try:
        yield hub
    finally:
        hub.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
