"""Console sign-in state: the signing key, sessions, one-time sign-in links, CSRF tokens.

The HMAC key lives in ``console_secrets``, generated at the first start (so the embedded default needs no
setup, and every replica signs with the same key). A session is a ``console_sessions`` row; the cookie
carries its id with an HMAC, so a cookie cannot be forged and sign-out revokes it for good. A CSRF token
is the HMAC of the session id: every form carries it and every POST is refused without it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import asyncpg

COOKIE = "swarm_console"
SESSION_S = 12 * 3600
LINK_S = 10 * 60
LOCAL_ADMIN = "local-admin"

ENSURE_KEY = "INSERT INTO console_secrets (name, value) VALUES ('session', $1) ON CONFLICT (name) DO NOTHING"
GET_KEY = "SELECT value FROM console_secrets WHERE name = 'session'"
CREATE = """
INSERT INTO console_sessions (id, user_id, user_name, local_admin, expires_at)
VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
"""
GET = """
SELECT id, user_id, user_name, local_admin FROM console_sessions
WHERE id = $1 AND revoked_at IS NULL AND expires_at > now()
"""
REVOKE = "UPDATE console_sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL"
CREATE_LINK = """
INSERT INTO console_login_links (token_sha256, user_id, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
"""
# Single use, settled by the database: of two concurrent openings of one link, one gets the row.
CONSUME_LINK = """
UPDATE console_login_links SET used_at = now()
WHERE token_sha256 = $1 AND used_at IS NULL AND expires_at > now()
RETURNING user_id
"""


@dataclass(frozen=True)
class Person:
    """Who is signed in: a Slack user id (or ``local-admin`` from a sign-in link), and the session's id."""

    user_id: str
    name: str | None
    local_admin: bool
    session_id: str

    @property
    def label(self) -> str:
        return self.name or self.user_id


def mac(key: bytes, purpose: str, value: str) -> str:
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def sign(key: bytes, session_id: str) -> str:
    """The cookie value: the session id and its HMAC. Pure."""
    return f"{session_id}.{mac(key, 'session', session_id)}"


def unsign(key: bytes, cookie: str | None) -> str | None:
    """The session id of a cookie whose HMAC is right, else None. Pure, constant-time comparison."""
    if not cookie or "." not in cookie:
        return None
    session_id, _, digest = cookie.rpartition(".")
    return session_id if hmac.compare_digest(digest, mac(key, "session", session_id)) else None


def csrf_token(key: bytes, session_id: str) -> str:
    return mac(key, "csrf", session_id)


def csrf_ok(key: bytes, session_id: str, token: str | None) -> bool:
    return token is not None and hmac.compare_digest(token, csrf_token(key, session_id))


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def signing_key(pool: asyncpg.Pool) -> bytes:
    """The key every replica shares: the first start stores a random one, later starts read it."""
    await pool.execute(ENSURE_KEY, secrets.token_bytes(32))
    key: bytes = await pool.fetchval(GET_KEY)
    return key


async def start(pool: asyncpg.Pool, user_id: str, name: str | None, *, local_admin: bool = False) -> str:
    """A new session's id (valid 12 h)."""
    session_id = secrets.token_urlsafe(24)
    await pool.execute(CREATE, session_id, user_id, name, local_admin, float(SESSION_S))
    return session_id


async def find(pool: asyncpg.Pool, session_id: str) -> Person | None:
    row = await pool.fetchrow(GET, session_id)
    if row is None:
        return None
    return Person(row["user_id"], row["user_name"], row["local_admin"], row["id"])


async def revoke(pool: asyncpg.Pool, session_id: str) -> None:
    await pool.execute(REVOKE, session_id)


async def create_link(pool: asyncpg.Pool, user_id: str = LOCAL_ADMIN) -> str:
    """A one-time sign-in token (10 minutes); only its SHA-256 is stored."""
    token = secrets.token_urlsafe(32)
    await pool.execute(CREATE_LINK, token_hash(token), user_id, float(LINK_S))
    return token


async def consume_link(pool: asyncpg.Pool, token: str) -> str | None:
    """The user id the link signs in, if it is unused and unexpired; it is used up by this call."""
    user_id: str | None = await pool.fetchval(CONSUME_LINK, token_hash(token))
    return user_id
