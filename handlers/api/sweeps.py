"""GET /api/v1/sweeps: the delivery-gap sweeper's drift report (its latest runs). service_role only: the
runs are in an internal table, read with the service's own connection once the role is checked."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from domain.sweeper import store
from handlers.api import document
from handlers.api.auth import require_role
from handlers.api.bodies import ok, param, query_int, responses
from handlers.keys import POOL

routes = web.RouteTableDef()

COUNT = {"type": "integer", "minimum": 0}
SOURCE = {
    "type": "object",
    "description": "Per source: counts, errors, or why it was skipped (a credential or hook list unset)",
    "properties": {
        "checked": COUNT,
        "missing": COUNT,
        "redelivered": COUNT,
        "healed": COUNT,
        "errors": {"type": "array", "items": {"type": "string"}},
        "skipped": {"type": "string"},
    },
}
SWEEP = {
    "type": "object",
    "required": ["id", "trigger", "since", "started_at", "status", "checked", "missing", "redelivered", "healed"],
    "properties": {
        "id": {"type": "integer"},
        "trigger": {"type": "string", "enum": ["job", "command"]},
        "since": {"type": "string", "format": "date-time"},
        "started_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "status": {"type": "string", "enum": ["running", "done", "failed"]},
        "checked": COUNT,
        "missing": COUNT,
        "redelivered": COUNT,
        "healed": COUNT,
        "sources": {"type": "object", "additionalProperties": SOURCE},
        "error": {"type": ["string", "null"]},
    },
}


@routes.get("/api/v1/sweeps")
async def sweeps(request: web.Request) -> web.Response:
    require_role(request)
    limit = query_int(request, "limit", 20, minimum=1, maximum=200)
    runs = await store.recent_runs(request.app[POOL], limit)
    return ok({"sweeps": [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()} for r in runs]})


def setup(app: web.Application) -> None:
    app.add_routes(routes)


OPENAPI = document(
    {
        "/api/v1/sweeps": {
            "get": {
                "summary": "The delivery-gap sweeper's latest runs: checked, missing, redelivered, healed",
                "operationId": "listSweeps",
                "security": [{"bearer": []}],
                "parameters": [param("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "newest first")],
                "responses": responses(
                    "200",
                    {
                        "type": "object",
                        "required": ["sweeps"],
                        "properties": {"sweeps": {"type": "array", "items": {"$ref": "#/components/schemas/Sweep"}}},
                    },
                ),
            }
        }
    },
    {"Sweep": SWEEP},
)
