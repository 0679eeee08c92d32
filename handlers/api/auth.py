"""The agents' API authentication: Supabase-style HS256 JWTs, and SQL run as the caller's role.

Each request's statements run in one transaction under ``SET LOCAL ROLE`` with the JWT claims in
``request.jwt.claims``, so PostgreSQL's row level security decides what the caller sees and changes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import jwt
from aiohttp import web
from aiohttp.typedefs import Handler

from handlers.errors import json_error
from handlers.keys import CONFIG, POOL

API_PREFIX = "/api/v1/"
PUBLIC_PATHS = frozenset({"/api/v1/openapi.json"})
ROLES = frozenset({"service_role", "authenticated"})


@dataclass(frozen=True)
class Caller:
    role: str
    subject: str | None
    claims: dict[str, Any]


CALLER = web.RequestKey("caller", Caller)


def verify_token(header: str | None, secret: str) -> Caller:
    """Parse ``Authorization: Bearer <jwt>``. Raises PermissionError (401) or LookupError (403)."""
    if not header or not header.startswith("Bearer "):
        raise PermissionError("missing bearer token: send Authorization: Bearer <JWT>")
    try:
        claims = jwt.decode(
            header.removeprefix("Bearer ").strip(),
            secret,
            algorithms=["HS256"],
            options={"require": ["exp"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise PermissionError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise PermissionError(f"invalid token: {exc}") from exc
    role = claims.get("role")
    if role not in ROLES:
        raise LookupError(f"role {role!r} may not use this API")
    return Caller(role=role, subject=claims.get("sub"), claims=claims)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIX) or request.path in PUBLIC_PATHS:
        return await handler(request)
    secret = request.app[CONFIG].jwt_secret
    if secret is None:
        return json_error(503, "the agents' API is not configured: set JWT_SECRET")
    try:
        request[CALLER] = verify_token(request.headers.get("Authorization"), secret)
    except PermissionError as exc:
        return json_error(401, str(exc))
    except LookupError as exc:
        return json_error(403, str(exc))
    return await handler(request)


def caller(request: web.Request) -> Caller:
    found: Caller = request[CALLER]
    return found


def require_role(request: web.Request, role: str = "service_role") -> Caller:
    """403 unless the caller has ``role``; for routes the seed keeps to one role."""
    who = caller(request)
    if who.role != role:
        raise web.HTTPForbidden(reason=f"this needs the {role} role")
    return who


@asynccontextmanager
async def as_caller(request: web.Request) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction running as the caller's PostgreSQL role, with its claims."""
    who = caller(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
            who.role,
            json.dumps(who.claims),
        )
        yield conn
