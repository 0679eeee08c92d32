"""The agents' API (/api/v1). Each module here has ``setup(app)`` and documents its routes with
``document({...})``: an OpenAPI 3.1 ``paths`` fragment, gathered into GET /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

PATHS: dict[str, dict[str, Any]] = {}
SCHEMAS: dict[str, Any] = {}


def document(paths: dict[str, dict[str, Any]], schemas: dict[str, Any] | None = None) -> None:
    """Add OpenAPI path items (and ``components.schemas`` entries) for this module's routes."""
    for path, item in paths.items():
        PATHS.setdefault(path, {}).update(item)
    SCHEMAS.update(schemas or {})
