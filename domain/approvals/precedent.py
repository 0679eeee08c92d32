"""Precedent (pure): which earlier decisions of the same agent and action type look most like a request.

Similarity is the overlap of the two ``action_details`` as sets of (path, value) pairs (Jaccard), with a
third of a point for a shared path whose value differs, so a rollback of the same service to another
version stays close while one of another service falls away.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SHOWN = 3
KEY_ONLY_WEIGHT = 1 / 3
AFTERMATH_DAYS = 7


def flatten(details: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``: scalar leaves by path, lists as one JSON value."""
    out: dict[str, str] = {}
    for key, value in details.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, path + "."))
        else:
            out[path] = json.dumps(value, sort_keys=True, default=str)
    return out


def similarity(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """0..1: 1 for identical details, 0 for nothing in common."""
    fa, fb = flatten(a), flatten(b)
    paths = fa.keys() | fb.keys()
    if not paths:
        return 1.0
    same = sum(1 for p in fa.keys() & fb.keys() if fa[p] == fb[p])
    key_only = len(fa.keys() & fb.keys()) - same
    return (same + KEY_ONLY_WEIGHT * key_only) / len(paths)


@dataclass(frozen=True)
class Earlier:
    """An earlier decided request of the same agent and action type."""

    approval_id: uuid.UUID
    action_details: dict[str, Any]
    decision: str
    reason: str | None
    decided_at: datetime


@dataclass(frozen=True)
class Precedent:
    earlier: Earlier
    score: float
    aftermath: str | None = None  # what happened within AFTERMATH_DAYS on the same service, when known


def most_similar(details: Mapping[str, Any], candidates: Iterable[Earlier], limit: int = SHOWN) -> list[Precedent]:
    """The ``limit`` most similar (ties: the newer first), each with its score."""
    scored = [Precedent(c, similarity(details, c.action_details)) for c in candidates]
    scored.sort(key=lambda p: (p.score, p.earlier.decided_at), reverse=True)
    return [p for p in scored if p.score > 0][:limit]


def service_of(details: Mapping[str, Any]) -> str | None:
    """The service an action is about (``service`` in its details), for what happened afterwards."""
    value = details.get("service")
    return value if isinstance(value, str) and value else None


def aftermath_text(incident_number: int | None, severity: str | None, days_after: float | None) -> str:
    if incident_number is None or days_after is None:
        return f"no incident on the service within {AFTERMATH_DAYS} days"
    when = "the same day" if days_after < 1 else f"{int(days_after)} day{'s' if days_after >= 2 else ''} later"
    return f"incident #{incident_number} ({severity}) {when}"
