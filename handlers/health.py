"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from aiohttp import web

from db import migrate
from domain.incidents import activity
from handlers.keys import POOL

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(3):
            async with request.app[POOL].acquire() as conn:
                waiting = await migrate.pending(conn)
                deleted = [] if waiting else await activity.deleted_installations(conn)
    except Exception as exc:  # any failure to reach the database means not ready
        return web.json_response({"error": "database unreachable", "detail": str(exc)}, status=503)
    if waiting:
        return web.json_response({"error": "migrations pending", "pending": waiting}, status=503)
    if deleted:  # still ready: Sentry simply sends nothing more for these organizations
        return web.json_response({"ok": True, "sentry_installations_deleted": deleted})
    return web.json_response({"ok": True})


def setup(app: web.Application) -> None:
    app.add_routes(routes)
