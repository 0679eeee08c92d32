"""Liveness and readiness.

``/readyz`` is 503 while the database does not answer, a migration is pending, or a critical background
component (the LISTEN hub, the outbox worker, a job loop) is down or restarting; the JSON names it and
carries every component's state. It answers from memory: the supervisor's states are kept there, and the
database checks run in the background every ``CHECK_S`` (``Readiness``), so a busy pool or a slow
database never makes the probe itself slow, and a burst of probes costs the database nothing. A check
that has not answered for ``STALE_S`` counts as the database being unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web

from db import migrate
from domain.approvals import watch
from domain.incidents import activity
from handlers.keys import POOL, SUPERVISOR

CHECK_S = 1.0
CHECK_TIMEOUT_S = 3.0
STALE_S = CHECK_TIMEOUT_S + 2 * CHECK_S

routes = web.RouteTableDef()


@dataclass
class Check:
    """The last database check's result."""

    at: float = 0.0  # monotonic; 0 before the first check
    error: str | None = "not checked yet"
    pending: list[str] = field(default_factory=list)
    deleted: list[Any] = field(default_factory=list)
    stuck: list[Any] = field(default_factory=list)


class Readiness:
    def __init__(self) -> None:
        self.last = Check()

    async def check(self, pool: asyncpg.Pool) -> Check:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                async with pool.acquire() as conn:
                    waiting = await migrate.pending(conn)
                    deleted = [] if waiting else await activity.deleted_installations(conn)
                    stuck = [] if waiting else await watch.undeliverable(conn)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure to reach the database means not ready
            self.last = Check(time.monotonic(), str(exc) or type(exc).__name__)
        else:
            self.last = Check(time.monotonic(), None, waiting, deleted, stuck)
        return self.last

    async def run(self, pool: asyncpg.Pool) -> None:
        while True:
            await self.check(pool)
            await asyncio.sleep(CHECK_S)

    def database(self) -> Check:
        last = self.last
        if last.error is None and time.monotonic() - last.at > STALE_S:
            return Check(last.at, f"no answer from the database check for {time.monotonic() - last.at:.1f} s")
        return last


READINESS = web.AppKey("readiness", Readiness)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    down, components = request.app[SUPERVISOR].report()
    check = request.app[READINESS].database()
    if check.error is not None:
        body = {"error": "database unreachable", "detail": check.error, "components": components}
        return web.json_response(body, status=503)
    if check.pending:
        return web.json_response({"error": "migrations pending", "pending": check.pending}, status=503)
    if down:
        body = {"error": f"not running: {', '.join(down)}", "down": down, "components": components}
        return web.json_response(body, status=503)
    body = {"ok": True, "components": components}
    if check.deleted:  # still ready: Sentry simply sends nothing more for these organizations
        body["sentry_installations_deleted"] = check.deleted
    if check.stuck:  # still ready: the agents were told (approval.undeliverable) and so was the incidents channel
        body["approvals_undeliverable"] = check.stuck
    return web.json_response(body)


async def checking(app: web.Application) -> AsyncIterator[None]:
    """The database checks in the background, the first one before the app serves."""
    readiness, pool = app[READINESS], app[POOL]
    await readiness.check(pool)
    task = asyncio.create_task(readiness.run(pool), name="readiness")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def setup(app: web.Application) -> None:
    app[READINESS] = Readiness()
    app.cleanup_ctx.append(checking)
    app.add_routes(routes)
