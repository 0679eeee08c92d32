"""GET /api/v1/openapi.json: the OpenAPI 3.1 document of every /api/v1 route, gathered from the
``OPENAPI`` fragment of each module in ``DOCUMENTED``. Public."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from handlers.api import (
    ApiDoc,
    actions,
    analytics,
    approvals,
    coding_requests,
    costs,
    events,
    incidents,
    metrics,
    runbooks,
    settings,
    sweeps,
)
from handlers.api.bodies import ERROR_SCHEMA

routes = web.RouteTableDef()
DOCUMENTED = (
    actions,
    analytics,
    approvals,
    coding_requests,
    costs,
    events,
    incidents,
    metrics,
    runbooks,
    settings,
    sweeps,
)


def merged(docs: list[ApiDoc]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Every module's path items and schemas in one place (two modules may document one path)."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for doc in docs:
        for path, item in doc.paths.items():
            paths.setdefault(path, {}).update(item)
        schemas.update(doc.schemas)
    return paths, schemas


PATHS, SCHEMAS = merged([module.OPENAPI for module in DOCUMENTED])


def operation_id(method: str, path: str) -> str:
    """``get_api_v1_approvals_id`` for GET /api/v1/approvals/{id}: for fragments that name none."""
    words = re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")
    return f"{method.lower()}_{words}"


def _paths() -> dict[str, Any]:
    return {
        path: {
            method: {"operationId": operation_id(method, path), **operation}
            if isinstance(operation, dict)
            else operation
            for method, operation in PATHS[path].items()
        }
        for path in sorted(PATHS)
    }


def build() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "swarm-bridge agents' API",
            "version": "1",
            "description": "The agents' API: bus, audit trail, costs, config, approvals, incidents, metrics. "
            "Bearer HS256 JWTs with a `role` claim (service_role or authenticated); PostgreSQL RLS decides.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {"Error": ERROR_SCHEMA, **SCHEMAS},
        },
    }


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build())


def setup(app: web.Application) -> None:
    app.add_routes(routes)
