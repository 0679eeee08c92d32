"""Deliveries stored in groups: the answers of concurrent webhook requests share one INSERT and one commit.

While one group's statement is in flight, arriving deliveries queue and go together in the next one, so an
idle service stores a lone delivery at once (no timer, no added wait) and a burst of 32 takes a handful of
round trips and commits instead of 32. Each request is still answered only after its own row is durable:
the group's statement commits (synchronous commit) before any of its futures resolve.

Duplicates are settled as ``jobs.inbox.store`` settles them: by the unique indexes, ``ON CONFLICT DO
NOTHING``; a delivery id twice in one group is stored once, the second answered as a duplicate. A group the
database refuses for one row's sake (a value it rejects) is stored again row by row, so the error reaches
that row's request alone; a database that is away fails the whole group with its error.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass

import asyncpg

from db.connect import ACQUIRE_TIMEOUT_S, AcquireTimeout
from db.errors import UNAVAILABLE
from jobs import inbox

STORE_MANY = """
INSERT INTO webhook_deliveries (source, delivery_id, event_type, action, headers, body, body_sha256, order_key,
                                status, attempts, processed_at)
SELECT s, d, e, a, h::jsonb, b, sha256(b), k,
       CASE WHEN handled THEN 'received' ELSE 'ignored' END, CASE WHEN handled THEN 0 ELSE 1 END,
       CASE WHEN handled THEN NULL ELSE now() END
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::text[], $8::bool[])
     WITH ORDINALITY AS t(s, d, e, a, h, b, k, handled, n)
ORDER BY n
ON CONFLICT DO NOTHING
RETURNING id, source, delivery_id
"""
GROUP_MAX = 64  # rows per statement; a 1 MiB body each would still be a statement PostgreSQL takes whole


@dataclass(frozen=True)
class Delivery:
    source: str
    delivery_id: str
    event_type: str
    action: str | None
    headers: dict[str, str]
    body: bytes
    order_key: str | None
    handled: bool


@dataclass(eq=False, slots=True)
class _Waiting:
    delivery: Delivery
    future: asyncio.Future[int | None]
    expiry: asyncio.TimerHandle | None = None


class Intake:
    """The process's webhook store. ``store`` answers like ``jobs.inbox.store``: the new row's id, or None
    for a duplicate; it raises what the database raised for this delivery.

    A delivery waits for its group no longer than a request waits for a pooled connection (the pool's
    ``acquire_timeout_s``): while a group is stuck (a locked table, a slow disk), those behind it are
    answered 503 at that bound, as requests beyond a full pool were, instead of queueing without end."""

    def __init__(self, group_max: int = GROUP_MAX) -> None:
        self.group_max = group_max
        self._queue: deque[_Waiting] = deque()
        self._drainer: asyncio.Task[None] | None = None

    async def store(self, pool: asyncpg.Pool, delivery: Delivery) -> int | None:
        loop = asyncio.get_running_loop()
        waiting = _Waiting(delivery, loop.create_future())
        bound = getattr(pool, "acquire_timeout_s", ACQUIRE_TIMEOUT_S)
        waiting.expiry = loop.call_later(bound, self._expire, waiting, bound)
        self._queue.append(waiting)
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain(pool))
        return await asyncio.shield(waiting.future)

    def _expire(self, waiting: _Waiting, bound: float) -> None:
        try:
            self._queue.remove(waiting)
        except ValueError:
            return  # its group has started: it waits for that statement's answer
        _settle(waiting.future, exc=AcquireTimeout(bound))

    def _take(self) -> list[tuple[Delivery, asyncio.Future[int | None]]]:
        group = []
        for _ in range(min(self.group_max, len(self._queue))):
            waiting = self._queue.popleft()
            if waiting.expiry is not None:
                waiting.expiry.cancel()
            group.append((waiting.delivery, waiting.future))
        return group

    async def _drain(self, pool: asyncpg.Pool) -> None:
        try:
            while self._queue:
                await _store_group(pool, self._take())
        except BaseException:
            while self._queue:
                for _, future in self._take():
                    future.cancel()
            raise
        finally:
            self._drainer = None


async def _store_group(pool: asyncpg.Pool, group: list[tuple[Delivery, asyncio.Future[int | None]]]) -> None:
    try:
        if len(group) == 1:
            ids: list[int | None] = [await _store_one(pool, group[0][0])]
        else:
            ids = await _store_many(pool, [d for d, _ in group])
    except Exception as exc:
        if len(group) == 1 or _away(exc):
            for _, future in group:
                _settle(future, exc=exc)
            return
        for delivery, future in group:  # one row's value refused: each request gets its own answer
            try:
                _settle(future, await _store_one(pool, delivery))
            except Exception as one:
                _settle(future, exc=one)
        return
    except BaseException:
        for _, future in group:
            future.cancel()
        raise
    for (_, future), row_id in zip(group, ids, strict=True):
        _settle(future, row_id)


def _away(exc: BaseException) -> bool:
    """The database is unreachable or saturated (every row would fail alike), as opposed to one row's value
    being refused: a DataError from PostgreSQL or from asyncpg encoding an argument (asyncpg's
    ``exceptions._base.DataError`` is also an InterfaceError, counted as unavailable, but a ValueError)."""
    return isinstance(exc, UNAVAILABLE) and not isinstance(exc, ValueError)


def _settle(future: asyncio.Future[int | None], row_id: int | None = None, *, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(row_id)


async def _store_one(pool: asyncpg.Pool, d: Delivery) -> int | None:
    return await inbox.store(
        pool,
        source=d.source,
        delivery_id=d.delivery_id,
        event_type=d.event_type,
        action=d.action,
        headers=d.headers,
        body=d.body,
        order_key=d.order_key,
        handled=d.handled,
    )


async def _store_many(pool: asyncpg.Pool, deliveries: list[Delivery]) -> list[int | None]:
    rows = await pool.fetch(
        STORE_MANY,
        [d.source for d in deliveries],
        [d.delivery_id for d in deliveries],
        [d.event_type for d in deliveries],
        [d.action for d in deliveries],
        [json.dumps(d.headers) for d in deliveries],
        [d.body for d in deliveries],
        [d.order_key for d in deliveries],
        [d.handled for d in deliveries],
    )
    stored = {(r["source"], r["delivery_id"]): r["id"] for r in rows}
    return [stored.pop((d.source, d.delivery_id), None) for d in deliveries]
