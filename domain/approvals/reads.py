"""Long-polls woken by decisions read their rows together: one query for every request woken meanwhile.

A burst of decisions wakes many ``GET /api/v1/approvals/{id}?wait=`` callers at once (the LISTEN hub
wakes each by its request's id). Each woken caller asks ``Rereads.get``; the ids asked while a read is
in flight are read together by the next one (``id = ANY($1)``), and each row goes back to its callers.
The callers are ``service_role`` (the only role the seed's row level security lets read requests), so
the shared read runs as the service itself.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from domain.approvals.rules import Approval
from domain.approvals.store import COLUMNS, _approval

GET_MANY = f"SELECT {COLUMNS} FROM approval_requests WHERE id = ANY($1::uuid[])"


class Rereads:
    """At most one read in flight; what is asked meanwhile waits for the next, one query for all of it."""

    def __init__(self) -> None:
        self._asked: dict[uuid.UUID, list[asyncio.Future[Approval | None]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def get(self, pool: asyncpg.Pool, approval_id: uuid.UUID) -> Approval | None:
        answer: asyncio.Future[Approval | None] = asyncio.get_running_loop().create_future()
        self._asked.setdefault(approval_id, []).append(answer)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(pool), name="approvals-rereads")
        return await answer

    async def _read(self, pool: asyncpg.Pool) -> None:
        try:
            while self._asked:
                asked, self._asked = self._asked, {}
                try:
                    rows = await pool.fetch(GET_MANY, list(asked))
                except Exception as exc:
                    for answers in asked.values():
                        for answer in answers:
                            if not answer.done():
                                answer.set_exception(exc)
                    continue
                found = {row["id"]: _approval(row) for row in rows}
                for approval_id, answers in asked.items():
                    for answer in answers:
                        if not answer.done():
                            answer.set_result(found.get(approval_id))
        finally:
            self._reader = None
