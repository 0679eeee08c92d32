"""The agents' API authentication: Supabase-style JWTs, and SQL run as the caller's role.

A token is HS256 with ``JWT_SECRET``, or ES256/RS256 with a key of ``JWT_JWKS_URL`` (Supabase's
asymmetric signing keys), chosen by its header's ``alg``. It must carry ``exp``, live at most
``JWT_MAX_LIFETIME_S`` (``exp - iat``, or ``exp - now`` without ``iat``), name ``JWT_AUDIENCE`` in ``aud``
when that is set, and have a string ``role`` (401 otherwise; a role other than ours is 403).

Each request's statements run in one transaction under ``SET LOCAL ROLE`` with the JWT claims in
``request.jwt.claims``, so PostgreSQL's row level security decides what the caller sees and changes.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import jwt
from aiohttp import web
from aiohttp.typedefs import Handler

from config import Config
from handlers.api.jwks import ALGORITHMS, KeysUnavailable, key_set
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


def bearer_credentials(header: str | None) -> str:
    """The token of ``Authorization: Bearer <token>``; the scheme is case-insensitive (RFC 7235)."""
    scheme, _, credentials = (header or "").strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials:
        raise PermissionError("missing bearer token: send Authorization: Bearer <JWT>")
    if not credentials.isascii() or len(credentials) > 16_384:
        raise PermissionError("invalid token: not a JWT")
    return credentials


async def _signing_key(token: str, config: Config) -> tuple[Any, str]:
    """The key and algorithm the token's header asks for, if this service accepts them."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise PermissionError(f"invalid token: {exc}") from exc
    alg = header.get("alg")
    if alg == "HS256" and config.jwt_secret is not None:
        return str.__str__(config.jwt_secret), alg
    if alg in ALGORITHMS and config.jwt_jwks_url is not None:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise PermissionError("invalid token: no kid in its header")
        try:
            found = await key_set(config.jwt_jwks_url).key(kid)
        except LookupError as exc:
            raise PermissionError(f"invalid token: {exc}") from exc
        if found.algorithm_name != alg:
            raise PermissionError(f"invalid token: key {kid[:64]!r} is not an {alg} key")
        return found.key, alg
    raise PermissionError(f"invalid token: algorithm {str(alg)[:20]!r} is not accepted here")


def _check_claims(claims: dict[str, Any], max_lifetime_s: int) -> Caller:
    exp = float(claims["exp"])  # PyJWT has checked it is a number
    iat = claims.get("iat")
    start = float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else time.time()
    if exp - start > max_lifetime_s:
        raise PermissionError(f"token lives longer than the {max_lifetime_s} s this service accepts")
    role, subject = claims.get("role"), claims.get("sub")
    if not isinstance(role, str):
        raise PermissionError("invalid token: claim role must be a string")
    if subject is not None and not isinstance(subject, str):
        raise PermissionError("invalid token: claim sub must be a string")
    if role not in ROLES:
        raise LookupError(f"role {role[:64]!r} may not use this API")
    return Caller(role=role, subject=subject, claims=claims)


async def verify_token(header: str | None, config: Config) -> Caller:
    """Parse and check ``Authorization: Bearer <jwt>``. Raises PermissionError (401), LookupError (403)
    or KeysUnavailable (503)."""
    token = bearer_credentials(header)
    key, alg = await _signing_key(token, config)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=config.jwt_audience,
            options={"require": ["exp"], "verify_aud": config.jwt_audience is not None},
        )
    except jwt.ExpiredSignatureError as exc:
        raise PermissionError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise PermissionError(f"invalid token: {exc}") from exc
    return _check_claims(claims, config.jwt_max_lifetime_s)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIX) or request.path in PUBLIC_PATHS:
        return await handler(request)
    config = request.app[CONFIG]
    if config.jwt_secret is None and config.jwt_jwks_url is None:
        return json_error(503, "the agents' API is not configured: set JWT_SECRET (or JWT_JWKS_URL)")
    try:
        request[CALLER] = await verify_token(request.headers.get("Authorization"), config)
    except PermissionError as exc:
        refused = json_error(401, str(exc))
        refused.headers["WWW-Authenticate"] = "Bearer"
        return refused
    except LookupError as exc:
        return json_error(403, str(exc))
    except KeysUnavailable as exc:
        return json_error(503, f"{exc}, retry later")
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


# request.jwt.claim.role too (the claims' role, which _check_claims made the role): auth.role() reads it
# first, so the seed's policy quals, evaluated on every row a list scans, need not parse the claims' JSON
# each time (a third of a 10,000-row page's time on the bus; issue 13). auth.role()'s answer is the same.
AS_CALLER = """
SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true),
       set_config('request.jwt.claim.role', $1, true)
"""


@asynccontextmanager
async def as_caller(request: web.Request) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction running as the caller's PostgreSQL role, with its claims."""
    who = caller(request)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await conn.execute(AS_CALLER, who.role, json.dumps(who.claims))
        yield conn
