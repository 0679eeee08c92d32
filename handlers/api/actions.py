"""The audit trail: ``agent_actions`` rows (the seed keeps them to service_role; RLS decides)."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from domain.ledger import actions
from handlers.api import document, paging
from handlers.api.auth import as_caller
from handlers.api.bodies import (
    created,
    json_body,
    ok,
    param,
    parse_time,
    query_int,
    query_str,
    query_time,
    request_body,
    responses,
)

routes = web.RouteTableDef()

TEXT = {"type": "string", "minLength": 1, "maxLength": 500}
OPT_TEXT = {"type": ["string", "null"], "maxLength": 5000}
OPT_UUID = {"type": ["string", "null"], "format": "uuid"}
ACTION_IN: dict[str, Any] = {
    "type": "object",
    "required": ["agent_name", "action_type", "success"],
    "additionalProperties": False,
    "properties": {
        "agent_name": TEXT,
        "agent_version": {"type": ["string", "null"], "maxLength": 100},
        "action_type": TEXT,
        "action_category": {"type": ["string", "null"], "maxLength": 200},
        "incident_id": OPT_UUID,
        "helpdesk_ticket_id": OPT_UUID,
        "coding_request_id": OPT_UUID,
        "input_context": {"type": "object"},
        "output_result": {"type": "object"},
        "success": {"type": "boolean"},
        "error_message": OPT_TEXT,
        "execution_time_ms": {"type": ["integer", "null"], "minimum": 0, "maximum": 2147483647},
        "workflow_run_id": {"type": ["string", "null"], "maxLength": 200},
        "workflow_job_id": {"type": ["string", "null"], "maxLength": 200},
        "requires_approval": {"type": "boolean"},
        "approval_status": {"type": ["string", "null"], "maxLength": 50},
        "approved_by": {"type": ["string", "null"], "maxLength": 255},
        "approved_at": {"type": ["string", "null"], "format": "date-time"},
        "created_at": {
            "type": "string",
            "format": "date-time",
            "description": "when the action happened, for agents reporting late; default now",
        },
    },
}
ACTION = {
    "type": "object",
    "required": ["id", "agent_name", "action_type", "success", "created_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        **{k: {} for k in ACTION_IN["properties"]},
        "created_at": {"type": "string"},
    },
}

UUIDS = ("incident_id", "helpdesk_ticket_id", "coding_request_id")


@routes.post("/api/v1/actions")
async def record(request: web.Request) -> web.Response:
    body = await json_body(request, ACTION_IN)
    fields = {k: v for k, v in body.items() if k != "created_at"}
    if fields.get("approved_at"):
        fields["approved_at"] = parse_time(fields["approved_at"], "approved_at")
    fields.update({k: uuid.UUID(fields[k]) for k in UUIDS if fields.get(k)})
    when = parse_time(body["created_at"], "created_at") if body.get("created_at") else None
    async with as_caller(request) as conn:
        row = await actions.record(conn, fields, when)
    return created(row)


@routes.get("/api/v1/actions")
async def listing(request: web.Request) -> web.Response:
    agent = query_str(request, "agent")
    since = query_time(request, "since")
    limit = query_int(request, "limit", 100, minimum=1, maximum=1000)
    before = paging.query_cursor(request, uuid.UUID)
    async with as_caller(request) as conn:
        rows = await actions.recent(conn, agent, since, limit + 1, before)
    page = rows[:limit]
    more = paging.encode(page[-1]["created_at"], uuid.UUID(page[-1]["id"])) if len(rows) > limit else None
    return ok({"actions": page, "next": more})


def setup(app: web.Application) -> None:
    app.add_routes(routes)


OPENAPI = document(
    {
        "/api/v1/actions": {
            "post": {
                "summary": "Record an agent action in the audit trail (service_role)",
                "operationId": "recordAction",
                "security": [{"bearer": []}],
                "requestBody": request_body("ActionIn"),
                "responses": responses("201", {"$ref": "#/components/schemas/Action"}),
            },
            "get": {
                "summary": "Recent actions, newest first, keyset-paged (authenticated callers see none: RLS)",
                "operationId": "listActions",
                "security": [{"bearer": []}],
                "parameters": [
                    param("agent", {"type": "string", "maxLength": 200}),
                    param("since", {"type": "string", "format": "date-time"}),
                    param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                    paging.CURSOR_PARAM,
                ],
                "responses": responses(
                    "200",
                    {
                        "type": "object",
                        "required": ["actions"],
                        "properties": {
                            "actions": {"type": "array", "items": {"$ref": "#/components/schemas/Action"}},
                            "next": paging.NEXT_FIELD,
                        },
                    },
                ),
            },
        }
    },
    {"ActionIn": ACTION_IN, "Action": ACTION},
)
