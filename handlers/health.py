"""Liveness and readiness.

``/readyz`` is 503 while the database does not answer, a migration is pending, or a critical background
component (the LISTEN hub, the outbox worker, a job loop) is down or restarting; the JSON names it and
carries every component's state.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from db import migrate
from domain.approvals import watch
from domain.incidents import activity
from handlers.keys import POOL, SUPERVISOR

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    down, components = request.app[SUPERVISOR].report()
    try:
        async with asyncio.timeout(3):
            async with request.app[POOL].acquire() as conn:
                waiting = await migrate.pending(conn)
                deleted = [] if waiting else await activity.deleted_installations(conn)
                stuck = [] if waiting else await watch.undeliverable(conn)
    except Exception as exc:  # any failure to reach the database means not ready
        body = {"error": "database unreachable", "detail": str(exc), "components": components}
        return web.json_response(body, status=503)
    if waiting:
        return web.json_response({"error": "migrations pending", "pending": waiting}, status=503)
    if down:
        body = {"error": f"not running: {', '.join(down)}", "down": down, "components": components}
        return web.json_response(body, status=503)
    body = {"ok": True, "components": components}
    if deleted:  # still ready: Sentry simply sends nothing more for these organizations
        body["sentry_installations_deleted"] = deleted
    if stuck:  # still ready: the agents were told (approval.undeliverable) and so was the incidents channel
        body["approvals_undeliverable"] = stuck
    return web.json_response(body)


def setup(app: web.Application) -> None:
    app.add_routes(routes)
