"""The access log: one JSON line per request (method, path, status, duration). Never the query string
(it may carry a token), headers or bodies."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.typedefs import Handler

import logs


@web.middleware
async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.monotonic()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away (nginx's convention)
        raise
    finally:
        logs.event(
            "http.request",
            method=request.method,
            path=request.path,
            status=status,
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
