"""Every error answer is JSON with an `error` field, whatever raised it."""

from __future__ import annotations

import logging

import asyncpg
import sentry_sdk
from aiohttp import web
from aiohttp.typedefs import Handler

import logs
from db.connect import AcquireTimeout
from db.errors import UNAVAILABLE


def json_error(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        text = exc.text or ""
        message = exc.reason if not text or text.startswith(f"{exc.status}:") else text
        response = json_error(exc.status, message)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except asyncpg.InsufficientPrivilegeError as exc:
        return json_error(403, f"not permitted for this role: {exc}")
    except asyncpg.DataError as exc:
        # PostgreSQL refused a value the request carried (a NUL character, a string too long for its
        # column, a number out of range): the caller's input, not our failure.
        return json_error(400, f"invalid value: {exc}")
    except AcquireTimeout as exc:
        logs.event("http.pool_exhausted", logging.WARNING, path=request.path, waited_s=exc.timeout_s)
        response = json_error(503, f"too busy: {exc}, retry later", reason="pool_exhausted")
        response.headers["Retry-After"] = "1"
        return response
    except UNAVAILABLE as exc:
        logs.event("http.database_unavailable", logging.ERROR, path=request.path, error=str(exc))
        return json_error(503, "database unavailable, retry later")
    except Exception:
        sentry_sdk.capture_exception()
        logs.event("http.unhandled", logging.ERROR, exc_info=True, path=request.path)
        return json_error(500, "internal error")
