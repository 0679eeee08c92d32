"""The agents' API (/api/v1). Each module here has ``setup(app)`` and describes its routes in a module
constant ``OPENAPI = document({...})``: an OpenAPI 3.1 ``paths`` fragment (and ``components.schemas``
entries), which handlers/api/openapi.py gathers from its list of modules into GET /api/v1/openapi.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ApiDoc:
    paths: dict[str, dict[str, Any]]
    schemas: dict[str, Any] = field(default_factory=dict)


def document(paths: dict[str, dict[str, Any]], schemas: dict[str, Any] | None = None) -> ApiDoc:
    """This module's OpenAPI path items and schemas, as data (nothing is registered)."""
    return ApiDoc(paths, schemas or {})
