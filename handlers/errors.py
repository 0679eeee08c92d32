"""Every error answer is JSON with an `error` field, whatever raised it.

Answers name the refused field or table, never PostgreSQL's own message (which can quote SQL, values
and internal names); the message goes to the log with its SQLSTATE instead.
"""

from __future__ import annotations

import logging
import re

import asyncpg
import sentry_sdk
from aiohttp import hdrs, web, web_urldispatcher
from aiohttp.typedefs import Handler

import logs
from db.connect import AcquireTimeout
from db.errors import UNAVAILABLE

DENIED_ON = re.compile(r"permission denied for (table|view|sequence|schema|function) ([A-Za-z0-9_.]{1,63})")
DATA_ERRORS: tuple[tuple[type[asyncpg.DataError], str], ...] = (
    (asyncpg.StringDataRightTruncationError, "a text value is too long"),
    (asyncpg.NumericValueOutOfRangeError, "a number is out of range"),
    (asyncpg.DatetimeFieldOverflowError, "a date or time is out of range"),
    (asyncpg.CharacterNotInRepertoireError, "text holds characters that cannot be stored"),
    (asyncpg.UntranslatableCharacterError, "text holds characters that cannot be stored (e.g. \\u0000)"),
    (asyncpg.InvalidTextRepresentationError, "a value has the wrong format"),
)


def json_error(status: int, message: str, **extra: object) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def _where(exc: asyncpg.PostgresError) -> dict[str, str]:
    found = {"field": exc.column_name, "table": exc.table_name, "constraint": exc.constraint_name}
    return {k: v for k, v in found.items() if isinstance(v, str) and v}


def _data_error(exc: asyncpg.DataError) -> str:
    return next((text for kind, text in DATA_ERRORS if isinstance(exc, kind)), "a value was refused by the database")


def _refused(request: web.Request, exc: asyncpg.PostgresError, status: int, message: str) -> web.Response:
    where = _where(exc)
    logs.event("http.refused_by_database", logging.INFO, path=request.path, sqlstate=exc.sqlstate, **where)
    return json_error(status, message, **where)


async def expect_handler(request: web.Request) -> web.StreamResponse | None:
    """aiohttp's default answer to an unknown ``Expect`` echoes it into a text body, and a header of
    non-UTF-8 bytes then fails to encode (a 500): answer 417 without echoing anything."""
    if request.version != (1, 1):
        return None
    if request.headers.get(hdrs.EXPECT, "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
        return None
    return json_error(417, "unsupported Expect header: only 100-continue is understood")


def install_expect_handler() -> None:
    """Make ``expect_handler`` aiohttp's default for every route created from now on, also the 404 and
    405 routes aiohttp makes per request (a route's own ``expect_handler=`` cannot reach those)."""
    web_urldispatcher._default_expect_handler = expect_handler  # type: ignore[assignment]


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
        denied = DENIED_ON.search(str(exc))
        what = f" on {denied[1]} {denied[2]}" if denied else ""
        return _refused(request, exc, 403, f"not permitted for this role{what}")
    except asyncpg.DataError as exc:
        # PostgreSQL refused a value the request carried (a NUL character, a string too long for its
        # column, a number out of range): the caller's input, not our failure.
        return _refused(request, exc, 400, f"invalid value: {_data_error(exc)}")
    except asyncpg.UniqueViolationError as exc:
        return _refused(request, exc, 409, "conflicts with an existing row")
    except asyncpg.IntegrityConstraintViolationError as exc:
        return _refused(request, exc, 400, "invalid value: a constraint refused it")
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
