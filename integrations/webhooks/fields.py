"""Small helpers the pure parsers share: tolerant reads of nested JSON and ISO 8601 times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def dig(doc: Any, *path: str) -> Any:
    """``doc[path[0]][path[1]]...`` or None where a step is missing or not an object."""
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def text(value: Any) -> str | None:
    """A non-empty string, numbers as their text; else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def when(value: Any) -> datetime | None:
    """An aware datetime from ISO 8601 text (``Z`` allowed) or Unix seconds; None when unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):  # e.g. 1e18 or NaN: no such time
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except (ValueError, OverflowError):
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
