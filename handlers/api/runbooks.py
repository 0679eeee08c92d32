"""The runbooks part of the agents' API: GET|POST /api/v1/runbooks, GET|PUT /api/v1/runbooks/{id},
POST /api/v1/runbooks/{id}/outcome, GET /api/v1/incidents/{id}/similar.

Reads and writes of patterns run as the caller's role (the seed keeps runbook_patterns to service_role,
so an ``authenticated`` token reads nothing); the runbooks' internal tables are written as the owner.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from db import connect
from domain.runbooks import config, patterns, rules, similar, store
from domain.runbooks.embedders import named
from handlers.api import document
from handlers.api.auth import as_caller, require_role
from handlers.api.bodies import created, json_body, not_found, ok, param, query_int, query_str, responses

NEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["pattern_name", "pattern_type", "automated_steps"],
    "properties": {
        "pattern_name": {"type": "string", "minLength": 1, "maxLength": 180},
        "pattern_type": {"type": "string", "minLength": 1, "maxLength": 100},
        "trigger_conditions": rules.CONDITIONS_SCHEMA,
        "automated_steps": rules.STEPS_SCHEMA,
        "description": {"type": "string", "maxLength": 4000},
        "requires_approval": {"type": "boolean", "description": "default true: a new runbook earns autonomy"},
        "auto_execute_threshold": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
    "additionalProperties": False,
}
EDIT_SCHEMA: dict[str, Any] = {**NEW_SCHEMA, "required": [], "minProperties": 1}
OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["incident_id", "success"],
    "properties": {
        "incident_id": {"type": "string", "format": "uuid"},
        "success": {"type": "boolean"},
        "resolution_time_ms": {"type": "integer", "minimum": 0, "maximum": 2147483647},
    },
    "additionalProperties": False,
}
PATTERN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "pattern_name", "pattern_type", "version", "automated_steps"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "pattern_name": {"type": "string"},
        "pattern_type": {"type": "string"},
        "trigger_conditions": {"type": "object"},
        "automated_steps": {"type": "array"},
        "requires_approval": {"type": "boolean"},
        "version": {"type": "integer"},
        "previous_version_id": {"type": ["string", "null"]},
        "usage_count": {"type": "integer"},
        "success_count": {"type": "integer"},
        "failure_count": {"type": "integer"},
        "avg_resolution_time_ms": {"type": ["integer", "null"]},
        "current": {"type": "boolean"},
    },
}


def _uuid(request: web.Request) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.match_info["id"])
    except ValueError:
        return None


async def list_runbooks(request: web.Request) -> web.Response:
    kind = query_str(request, "type")
    limit = query_int(request, "limit", 100, minimum=1, maximum=500)
    async with as_caller(request) as conn:
        found = await store.current(conn, pattern_type=kind, limit=limit)
    return ok({"runbooks": [p.as_json() for p in found]})


async def get_runbook(request: web.Request) -> web.Response:
    pattern_id = _uuid(request)
    async with as_caller(request) as conn:
        pattern = await store.get(conn, pattern_id) if pattern_id else None
        if pattern is None:
            return not_found("runbook")
        versions = await store.chain(conn, pattern.id)
        await connect.as_owner(conn)
        evidence = await patterns.evidence(conn, pattern.id)
    return ok({**pattern.as_json(), "versions": versions, "evidence": evidence})


async def create_runbook(request: web.Request) -> web.Response:
    require_role(request)
    body = await json_body(request, NEW_SCHEMA)
    async with as_caller(request) as conn:
        settings = await config.read(conn)
        pattern = await patterns.write(conn, body, embedder=named(settings.embedder), previous=None)
    if pattern is None:
        return web.json_response({"error": "a runbook with this pattern_name exists"}, status=409)
    return created(pattern.as_json())


async def edit_runbook(request: web.Request) -> web.Response:
    require_role(request)
    pattern_id = _uuid(request)
    body = await json_body(request, EDIT_SCHEMA)
    async with as_caller(request) as conn:
        previous = await store.get(conn, pattern_id) if pattern_id else None
        if previous is None:
            return not_found("runbook")
        if not previous.current:
            return web.json_response({"error": "this version was superseded: edit the current one"}, status=409)
        settings = await config.read(conn)
        try:
            pattern = await patterns.write(conn, body, embedder=named(settings.embedder), previous=previous)
        except store.Superseded:
            return web.json_response({"error": "this version was superseded: edit the current one"}, status=409)
    if pattern is None:
        return web.json_response({"error": "a runbook with this pattern_name exists"}, status=409)
    return created(pattern.as_json())


async def report_outcome(request: web.Request) -> web.Response:
    require_role(request)
    pattern_id = _uuid(request)
    body = await json_body(request, OUTCOME_SCHEMA)
    async with as_caller(request) as conn:
        pattern = await store.get(conn, pattern_id) if pattern_id else None
        if pattern is None:
            return not_found("runbook")
        await connect.as_owner(conn)
        result = await patterns.outcome(
            conn,
            pattern.id,
            uuid.UUID(body["incident_id"]),
            success=body["success"],
            resolution_time_ms=body.get("resolution_time_ms"),
            now=datetime.now(UTC),
        )
    if result is None:
        return ok({**pattern.as_json(), "counted": False})
    after, demoted = result
    return ok({**after.as_json(), "counted": True, "demoted": demoted})


async def similar_incidents(request: web.Request) -> web.Response:
    incident_id = _uuid(request)
    limit = query_int(request, "limit", 5, minimum=1, maximum=50)
    async with as_caller(request) as conn:
        incident = await conn.fetchrow(similar.INCIDENT, incident_id) if incident_id else None
        if incident is None:
            return not_found("incident")
        settings = await config.read(conn)
        found = await similar.ranked(conn, dict(incident), named(settings.embedder), limit)
    return ok({"incident_id": str(incident_id), "similar": found})


ERR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
ID = param("id", {"type": "string", "format": "uuid"}, where="path")
ONE = {"$ref": "#/components/schemas/Runbook"}


def _with_409(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "409": {"description": "name taken or version superseded", **ERR}}


OPENAPI = document(
    {
        "/api/v1/runbooks": {
            "get": {
                "summary": "Current versions of the runbook patterns",
                "tags": ["runbooks"],
                "parameters": [
                    param("type", {"type": "string"}),
                    param("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
                ],
                "responses": responses(
                    "200", {"type": "object", "properties": {"runbooks": {"type": "array", "items": ONE}}}
                ),
            },
            "post": {
                "summary": "Write a runbook (validated steps and conditions)",
                "tags": ["runbooks"],
                "requestBody": {"required": True, "content": {"application/json": {"schema": NEW_SCHEMA}}},
                "responses": _with_409(responses("201", ONE)),
            },
        },
        "/api/v1/runbooks/{id}": {
            "get": {
                "summary": "One runbook version with its chain of versions, counters and evidence",
                "tags": ["runbooks"],
                "parameters": [ID],
                "responses": responses("200", ONE, "404"),
            },
            "put": {
                "summary": "Edit a runbook: a new version (counters restart)",
                "tags": ["runbooks"],
                "parameters": [ID],
                "requestBody": {"required": True, "content": {"application/json": {"schema": EDIT_SCHEMA}}},
                "responses": _with_409(responses("201", ONE, "404")),
            },
        },
        "/api/v1/runbooks/{id}/outcome": {
            "post": {
                "summary": "Report an execution's outcome (once per incident); a failure gates the runbook again",
                "tags": ["runbooks"],
                "parameters": [ID],
                "requestBody": {"required": True, "content": {"application/json": {"schema": OUTCOME_SCHEMA}}},
                "responses": responses("200", ONE, "404"),
            }
        },
        "/api/v1/incidents/{id}/similar": {
            "get": {
                "summary": "Past incidents ranked by similarity (score, status, resolution, Linear and PR links)",
                "tags": ["incidents", "runbooks"],
                "parameters": [ID, param("limit", {"type": "integer", "minimum": 1, "maximum": 50})],
                "responses": responses(
                    "200",
                    {"type": "object", "properties": {"similar": {"type": "array", "items": {"type": "object"}}}},
                    "404",
                ),
            }
        },
    },
    schemas={"Runbook": PATTERN_SCHEMA},
)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/runbooks", list_runbooks)
    app.router.add_post("/api/v1/runbooks", create_runbook)
    app.router.add_get("/api/v1/runbooks/{id}", get_runbook)
    app.router.add_put("/api/v1/runbooks/{id}", edit_runbook)
    app.router.add_post("/api/v1/runbooks/{id}/outcome", report_outcome)
    app.router.add_get("/api/v1/incidents/{id}/similar", similar_incidents)
