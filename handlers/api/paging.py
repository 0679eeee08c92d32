"""Keyset pagination for the list endpoints: ``?cursor=`` is the last row's sort key, opaque to callers.

A list answers ``next`` (null on the last page); passing it back as ``cursor`` gives the rows after it,
newest first, from an index range however deep: no OFFSET. The key is (created_at, a unique tiebreak):
urlsafe base64 of a JSON pair, so a cursor is a plain query-string value.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web

from handlers.api.bodies import bad_request

MAX_CURSOR = 200
Key = TypeVar("Key", int, uuid.UUID)

CURSOR_PARAM: dict[str, Any] = {
    "name": "cursor",
    "in": "query",
    "schema": {"type": "string", "maxLength": MAX_CURSOR},
    "description": "the previous page's `next`: rows after it (keyset pagination)",
}
NEXT_FIELD: dict[str, Any] = {
    "type": ["string", "null"],
    "description": "pass as `cursor` for the next page; null on the last page",
}


def encode(created_at: datetime, key: int | uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), key if isinstance(key, int) else str(key)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(raw: str, kind: type[Key]) -> tuple[datetime, Key]:
    """The (created_at, key) of a cursor; ValueError when it is not one of ours."""
    if len(raw) > MAX_CURSOR or not raw.isascii():
        raise ValueError("cursor is too long")
    try:
        when, key = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        created_at = datetime.fromisoformat(when)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise ValueError("cursor is not a cursor this service gave") from exc
    if created_at.tzinfo is None or not 2 <= created_at.year <= 9998:
        raise ValueError("cursor is not a cursor this service gave")
    if kind is int:
        if type(key) is not int or not 0 <= key < 2**31:
            raise ValueError("cursor is not a cursor this service gave")
        return created_at, key  # type: ignore[return-value]
    if not isinstance(key, str):
        raise ValueError("cursor is not a cursor this service gave")
    try:
        return created_at, uuid.UUID(key)  # type: ignore[return-value]
    except ValueError as exc:
        raise ValueError("cursor is not a cursor this service gave") from exc


def query_cursor(request: web.Request, kind: type[Key]) -> tuple[datetime, Key] | None:
    """``?cursor=`` decoded (None when absent); 400 when it is not a cursor this service gave."""
    raw = request.query.get("cursor") or None
    if raw is None:
        return None
    try:
        return decode(raw, kind)
    except ValueError as exc:
        raise bad_request(str(exc)) from exc
