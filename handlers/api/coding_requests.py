"""The coding agent's view of its requests: list, read, and move them along (GET/PATCH /api/v1/coding-requests)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from db import connect
from domain.coding_requests import store as coding_requests
from domain.coding_requests.rules import FieldError, Status, TransitionRefused, parse_changes, parse_status
from handlers.api import document, paging
from handlers.api.auth import as_caller
from handlers.api.bodies import ascii_int, read_json
from handlers.errors import json_error

MAX_LIMIT = 500


def _number(request: web.Request) -> int:
    raw = request.match_info["number"]
    number = ascii_int(raw)
    if number is None or not 0 < number < 2**31:
        raise web.HTTPBadRequest(reason=f"number: {raw[:40]!r} is not a coding request number")
    return number


async def list_requests(request: web.Request) -> web.Response:
    status: Status | None = None
    if "status" in request.query:
        try:
            status = parse_status(request.query["status"])
        except ValueError as exc:
            return json_error(400, f"status: {exc}")
    limit = ascii_int(request.query.get("limit", "100"))
    if limit is None or not 0 < limit <= MAX_LIMIT:
        return json_error(400, f"limit: must be an integer from 1 to {MAX_LIMIT}")
    before = paging.query_cursor(request, int)
    async with as_caller(request) as conn:
        rows = await coding_requests.list_requests(conn, status, limit + 1, before)
    page = rows[:limit]
    more = paging.encode(page[-1].created_at, page[-1].request_number) if len(rows) > limit else None
    return web.json_response({"coding_requests": [r.as_json() for r in page], "next": more})


async def get_request(request: web.Request) -> web.Response:
    number = _number(request)
    async with as_caller(request) as conn:
        found = await coding_requests.get(conn, number)
    if found is None:
        return json_error(404, f"no coding request #{number}")
    return web.json_response(found.as_json())


async def patch_request(request: web.Request) -> web.Response:
    number = _number(request)
    body: Any = await read_json(request)
    try:
        changes = parse_changes(body)
    except FieldError as exc:
        return json_error(400, str(exc), field=exc.field)
    try:
        async with as_caller(request) as conn:
            req, previous = await coding_requests.apply_changes(conn, number, changes)
            await connect.as_owner(conn)
            await coding_requests.announce_change(conn, req, previous)
    except coding_requests.NotFound as exc:
        return json_error(404, str(exc))
    except TransitionRefused as exc:
        return json_error(409, str(exc), current_status=exc.current.value, requested_status=exc.target.value)
    return web.json_response(req.as_json())


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/coding-requests", list_requests)
    app.router.add_get("/api/v1/coding-requests/{number}", get_request)
    app.router.add_patch("/api/v1/coding-requests/{number}", patch_request)


STATUSES = [s.value for s in Status]
NUMBER = {"name": "number", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
ERROR = {"$ref": "#/components/schemas/Error"}
ROW = {"$ref": "#/components/schemas/CodingRequest"}


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


OPENAPI = document(
    {
        "/api/v1/coding-requests": {
            "get": {
                "summary": "List coding requests (newest first)",
                "description": "service_role sees every request; authenticated sees none (row level security).",
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string", "enum": STATUSES}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                    paging.CURSOR_PARAM,
                ],
                "responses": {
                    "200": _answer(
                        "the requests",
                        {
                            "type": "object",
                            "properties": {
                                "coding_requests": {"type": "array", "items": ROW},
                                "next": paging.NEXT_FIELD,
                            },
                        },
                    ),
                    "400": _answer("bad status or limit", ERROR),
                },
            }
        },
        "/api/v1/coding-requests/{number}": {
            "get": {
                "summary": "One coding request by its number",
                "parameters": [NUMBER],
                "responses": {"200": _answer("the request", ROW), "404": _answer("no such request", ERROR)},
            },
            "patch": {
                "summary": "Update a coding request (the coding agent's progress)",
                "description": (
                    "Status moves follow the lifecycle pending -> planning -> in_progress -> in_review -> "
                    "completed (in_review -> in_progress allowed; failed and cancelled from any open status). "
                    "started_at is set on the first move to in_progress, completed_at on completed. A refused "
                    "move answers 409 naming the allowed moves. Each status change emits coding_request.updated "
                    "and tells the requester in Slack."
                ),
                "parameters": [NUMBER],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CodingRequestPatch"}}},
                },
                "responses": {
                    "200": _answer("the updated request", ROW),
                    "400": _answer("bad input; `field` names it", ERROR),
                    "403": _answer("the role may not change coding requests", ERROR),
                    "404": _answer("no such request", ERROR),
                    "409": _answer("a status move outside the lifecycle", ERROR),
                },
            },
        },
    },
    schemas={
        "CodingRequestPatch": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {
                "status": {"type": "string", "enum": STATUSES},
                "estimated_complexity": {"type": "string", "minLength": 1, "maxLength": 50},
                "implementation_plan": {"type": "object"},
                "files_to_create": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "files_to_modify": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "test_files": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "branch_name": {"type": "string", "minLength": 1, "maxLength": 255},
            },
        },
        "CodingRequest": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "request_number": {"type": "integer"},
                "source": {"type": "string", "enum": ["slack", "linear"]},
                "source_id": {"type": "string"},
                "source_url": {"type": ["string", "null"]},
                "title": {"type": "string"},
                "description": {"type": ["string", "null"]},
                "request_type": {"type": "string", "enum": ["feature", "bug", "chore", "refactor"]},
                "priority": {"type": "string", "enum": ["low", "medium", "high", "urgent"]},
                "estimated_complexity": {"type": ["string", "null"]},
                "status": {"type": "string", "enum": STATUSES},
                "implementation_plan": {"type": ["object", "null"]},
                "files_to_create": {"type": ["array", "null"], "items": {"type": "string"}},
                "files_to_modify": {"type": ["array", "null"], "items": {"type": "string"}},
                "test_files": {"type": ["array", "null"], "items": {"type": "string"}},
                "branch_name": {"type": ["string", "null"]},
                "pr_number": {"type": ["integer", "null"]},
                "pr_url": {"type": ["string", "null"]},
                "pr_status": {"type": ["string", "null"], "enum": ["open", "merged", "closed", None]},
                "assigned_agent": {"type": ["string", "null"]},
                "requested_by_id": {"type": ["string", "null"]},
                "requested_by_name": {"type": ["string", "null"]},
                "requested_by_email": {"type": ["string", "null"]},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
                "started_at": {"type": ["string", "null"], "format": "date-time"},
                "completed_at": {"type": ["string", "null"], "format": "date-time"},
            },
        },
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    },
)
