"""Decisions made at the same moment commit together: one transaction for the clicks queued meanwhile.

Every decision NOTIFYs (the waiting agent, the outbox, the bus), and PostgreSQL serialises the commits
of notifying transactions, each with its WAL flush: 200 clicks at once queued 200 flushes one behind the
other (on this machine 200 such commits take about twice as long as without NOTIFY). ``Batches`` runs
each click's work (a function of a connection) in a shared transaction: a few lanes, each taking every
click queued while it was busy, in the order of the requests' ids (so two lanes lock rows in one order
and do not deadlock on them). A batch whose transaction fails is run again one click per transaction,
so one click's error is its own. A click waits for its batch's commit, as it waited for its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from db.transactions import run_in_transaction

LANES = 4  # transactions deciding at once
MAX_BATCH = 32  # clicks in one transaction (its row locks are held until the last one is done)

Work = Callable[[asyncpg.Connection], Awaitable[Any]]


@dataclass
class _Item:
    key: uuid.UUID
    work: Work
    answer: asyncio.Future[Any]


class Batches:
    def __init__(self, *, lanes: int = LANES, max_batch: int = MAX_BATCH) -> None:
        self.lanes = lanes
        self.max_batch = max_batch
        self._queue: list[_Item] = []
        self._lanes: set[asyncio.Task[None]] = set()

    async def run(self, pool: asyncpg.Pool, key: uuid.UUID, work: Work) -> Any:
        """``await work(conn)`` in a transaction shared with the clicks queued meanwhile; its result."""
        item = _Item(key, work, asyncio.get_running_loop().create_future())
        self._queue.append(item)
        if len(self._lanes) < self.lanes:
            lane = asyncio.create_task(self._lane(pool), name="approvals-decisions")
            self._lanes.add(lane)
            lane.add_done_callback(self._lanes.discard)
        return await item.answer

    async def _lane(self, pool: asyncpg.Pool) -> None:
        while self._queue:
            batch = sorted(self._queue[: self.max_batch], key=lambda i: i.key)
            del self._queue[: self.max_batch]

            async def together(conn: asyncpg.Connection, batch: list[_Item] = batch) -> list[Any]:
                return [await item.work(conn) for item in batch]

            try:
                results = await run_in_transaction(pool, together, name="approvals.decide")
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0], exc=exc)
                    continue
                for item in batch:
                    await _alone(pool, item)
                continue
            for item, result in zip(batch, results, strict=True):
                _settle(item, result=result)


async def _alone(pool: asyncpg.Pool, item: _Item) -> None:
    try:
        result = await run_in_transaction(pool, item.work, name="approvals.decide")
    except Exception as exc:
        _settle(item, exc=exc)
    else:
        _settle(item, result=result)


def _settle(item: _Item, *, result: Any = None, exc: BaseException | None = None) -> None:
    if item.answer.done():  # the click's task was cancelled (shutdown)
        return
    if exc is not None:
        item.answer.set_exception(exc)
    else:
        item.answer.set_result(result)
