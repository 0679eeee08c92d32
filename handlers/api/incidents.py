"""The incidents part of the agents' API: list, read, and move an incident through its lifecycle.

Reads and the transition run as the caller's PostgreSQL role (RLS: only service_role sees incidents);
the Slack thread reply is queued in the same transaction by the service's own role (the outbox is
internal), so it is sent exactly when the transition commits.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from db import connect
from domain.incidents import fix_timeline
from domain.incidents import store as incidents
from domain.incidents.rules import Status, Transition, next_status, refusal
from domain.runbooks.matching import runbook_match
from handlers.api import document, paging
from handlers.api.auth import as_caller, caller, require_role
from handlers.api.bodies import query_str, read_json
from handlers.errors import json_error

API_TRANSITIONS = {Transition.ACKNOWLEDGE, Transition.MITIGATE, Transition.RESOLVE}
SEVERITIES = ("critical", "high", "medium", "low")
MAX_LIMIT = 500


def _incident_id(request: web.Request) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.match_info["id"])
    except ValueError:
        return None


async def list_incidents(request: web.Request) -> web.Response:
    query = request.query
    status, severity = query.get("status") or None, query.get("severity") or None
    if status is not None and status not in {s.value for s in Status}:
        return json_error(400, f"status must be one of {', '.join(s.value for s in Status)}")
    if severity is not None and severity not in SEVERITIES:
        return json_error(400, f"severity must be one of {', '.join(SEVERITIES)}")
    try:
        limit = min(max(int(query.get("limit", "100")), 1), MAX_LIMIT)
    except ValueError:
        return json_error(400, "limit must be an integer")
    before = paging.query_cursor(request, int)
    service = query_str(request, "service")
    async with as_caller(request) as conn:
        found = await incidents.search(
            conn, status=status, severity=severity, service=service, before=before, limit=limit + 1
        )
    page = found[:limit]
    more = paging.encode(page[-1].created_at, page[-1].incident_number) if len(found) > limit else None
    return web.json_response({"incidents": [i.as_json() for i in page], "next": more})


async def get_incident(request: web.Request) -> web.Response:
    incident_id = _incident_id(request)
    async with as_caller(request) as conn:
        incident = await incidents.get(conn, incident_id) if incident_id else None
        if incident is None:
            return json_error(404, "no such incident")
        match = await runbook_match(conn, incident.id)
    return web.json_response({**incident.as_json(), "runbook_match": match})


def _parse_transition(body: Any) -> tuple[Transition, list[Any] | None, str | None, str | None, str | None]:
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    action = body.get("action")
    if action not in {t.value for t in API_TRANSITIONS}:
        raise ValueError("action must be one of acknowledge, mitigate, resolve")
    move = Transition(action)
    steps, summary = body.get("resolution_steps"), body.get("resolution_summary")
    by, note = body.get("resolved_by"), body.get("note")
    if steps is not None and not isinstance(steps, list):
        raise ValueError("resolution_steps must be a list")
    for name, value in (("resolution_summary", summary), ("resolved_by", by), ("note", note)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
    if move is not Transition.RESOLVE and (steps is not None or summary is not None):
        raise ValueError("resolution_steps and resolution_summary go with action resolve")
    return move, steps, summary, by, note


async def transition_incident(request: web.Request) -> web.Response:
    require_role(request, "service_role")  # the seed lets only service_role change incidents
    incident_id = _incident_id(request)
    body = await read_json(request)
    try:
        move, steps, summary, by, note = _parse_transition(body)
    except ValueError as exc:
        return json_error(400, str(exc))
    resolved_by = by or caller(request).subject or caller(request).role
    async with as_caller(request) as conn:
        current = await incidents.get(conn, incident_id) if incident_id else None
        if current is None or incident_id is None:
            return json_error(404, "no such incident")
        if next_status(current.status, move) is None:
            return json_error(409, refusal(current.status, move), current_status=current.status)
        updated = await incidents.transition(
            conn,
            incident_id,
            move,
            now=datetime.now(UTC),
            by=resolved_by if move is Transition.RESOLVE else None,
            steps=steps,
            summary=summary,
            notify=False,
        )
        if updated is None:  # changed by someone else between the read and the guarded UPDATE
            fresh = await incidents.get(conn, incident_id)
            status = fresh.status if fresh else "gone"
            return json_error(409, refusal(status, move), current_status=status)
        # The outbox and fix rows are the service's own: written in this transaction as its owner role.
        await connect.as_owner(conn)
        await incidents.tell_thread(conn, updated, note)
        if move in (Transition.ACKNOWLEDGE, Transition.MITIGATE):
            await fix_timeline.acknowledge(conn, await fix_timeline.for_incident(conn, incident_id), datetime.now(UTC))
    return web.json_response(updated.as_json())


INCIDENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An infrastructure_incidents row (without its embedding).",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "incident_number": {"type": "integer"},
        "severity": {"type": "string", "enum": list(SEVERITIES)},
        "status": {"type": "string", "enum": [s.value for s in Status]},
        "incident_type": {"type": "string"},
        "source": {"type": "string"},
        "source_id": {"type": ["string", "null"]},
        "affected_services": {"type": "array", "items": {"type": "string"}},
        "title": {"type": "string"},
        "error_message": {"type": ["string", "null"]},
        "error_details": {"type": "object"},
        "sentry_issue_id": {"type": ["string", "null"]},
        "linear_issue_id": {"type": ["string", "null"], "description": "The Linear identifier, e.g. ENG-123"},
        "slack_channel_id": {"type": ["string", "null"]},
        "slack_thread_ts": {"type": ["string", "null"]},
        "github_workflow_run_id": {"type": ["string", "null"]},
        "resolution_steps": {"type": "array"},
        "resolution_summary": {"type": ["string", "null"]},
        "resolved_by": {"type": ["string", "null"]},
        "resolved_at": {"type": ["string", "null"], "format": "date-time"},
        "time_to_detect_ms": {"type": ["integer", "null"]},
        "time_to_mitigate_ms": {"type": ["integer", "null"]},
        "time_to_resolve_ms": {"type": ["integer", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "runbook_match": {"type": ["object", "null"], "description": "GET one: the best runbook match"},
    },
}
ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
INCIDENT_REF = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Incident"}}}}
ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}

OPENAPI = document(
    {
        "/api/v1/incidents": {
            "get": {
                "summary": "List incidents, newest first",
                "tags": ["incidents"],
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string", "enum": [s.value for s in Status]}},
                    {"name": "severity", "in": "query", "schema": {"type": "string", "enum": list(SEVERITIES)}},
                    {"name": "service", "in": "query", "schema": {"type": "string"}, "description": "affected"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                    paging.CURSOR_PARAM,
                ],
                "responses": {
                    "200": {
                        "description": "Incidents the caller's role may see (RLS: service_role)",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "incidents": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Incident"},
                                        },
                                        "next": paging.NEXT_FIELD,
                                    },
                                }
                            }
                        },
                    },
                    "400": {"description": "Bad filter", **ERROR},
                    "401": {"description": "No or bad token", **ERROR},
                },
            }
        },
        "/api/v1/incidents/{id}": {
            "get": {
                "summary": "One incident",
                "tags": ["incidents"],
                "parameters": [ID_PARAM],
                "responses": {
                    "200": {"description": "The incident", **INCIDENT_REF},
                    "404": {"description": "No such incident (or not visible to the role)", **ERROR},
                },
            }
        },
        "/api/v1/incidents/{id}/transition": {
            "post": {
                "summary": "Acknowledge, mitigate or resolve an incident; its Slack thread is told",
                "tags": ["incidents"],
                "parameters": [ID_PARAM],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["action"],
                                "properties": {
                                    "action": {"type": "string", "enum": ["acknowledge", "mitigate", "resolve"]},
                                    "resolution_steps": {"type": "array", "description": "resolve only"},
                                    "resolution_summary": {"type": "string", "description": "resolve only"},
                                    "resolved_by": {"type": "string", "description": "default: the token's sub"},
                                    "note": {"type": "string", "description": "added to the Slack thread reply"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {"description": "The incident after the transition", **INCIDENT_REF},
                    "400": {"description": "Bad body", **ERROR},
                    "403": {"description": "The role may not change incidents", **ERROR},
                    "404": {"description": "No such incident", **ERROR},
                    "409": {"description": "Not allowed from the incident's current status", **ERROR},
                },
            }
        },
    },
    schemas={
        "Incident": INCIDENT_SCHEMA,
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    },
)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/incidents", list_incidents)
    app.router.add_get("/api/v1/incidents/{id}", get_incident)
    app.router.add_post("/api/v1/incidents/{id}/transition", transition_incident)
