"""POST /api/v1/approvals, GET /api/v1/approvals/{id}[?wait=N], POST /api/v1/approvals/{id}/cancel.

service_role only (the seed's RLS keeps approval_requests to it; an ``authenticated`` token gets 403).
A long-poll holds no database connection while it waits: one LISTEN connection per process wakes the
waiters of a request when its closing transaction commits (NOTIFY ``approvals``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

from aiohttp import web

import logs
from domain.approvals import store as approvals
from domain.approvals.edit_check import schema_problem
from domain.approvals.reads import Rereads
from domain.approvals.rules import Approval, InvalidField, Status, parse_new, parse_reason, parse_wait
from handlers.api import document
from handlers.api.auth import as_caller, require_role
from handlers.api.bodies import BadJson, parse_json
from handlers.errors import json_error
from handlers.keys import HUB, POOL

MAX_WAIT_S = 60
REREADS = web.AppKey("approvals_rereads", Rereads)
RECHECK_S = 5.0  # a waiter re-reads the row this often even without a NOTIFY (a lost listener heals)


def _bad(exc: InvalidField) -> web.Response:
    return json_error(400, str(exc), field=exc.field)


def _approval_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["id"])
    except ValueError as exc:
        raise web.HTTPNotFound(reason="no approval request with this id (not a UUID)") from exc


async def _json_body(request: web.Request, *, optional: bool = False) -> Any:
    raw = await request.read()
    if optional and not raw.strip():
        return {}
    try:
        return parse_json(raw)
    except BadJson as exc:
        raise InvalidField("body", str(exc).removeprefix("body ")) from exc


async def create(request: web.Request) -> web.Response:
    require_role(request)
    try:
        new = parse_new(await _json_body(request))
        problem = schema_problem(new.editable) if new.editable is not None else None
        if problem is not None:
            raise InvalidField("editable", f"is not a valid JSON Schema: {problem}")
    except InvalidField as exc:
        return _bad(exc)
    async with as_caller(request) as conn:
        created = await approvals.submit(conn, new)
    approval = created.approval
    location = {"Location": f"/api/v1/approvals/{approval.id}"}
    if not created.created:  # an identical request is pending: that one is the answer
        logs.event("api.approvals.deduplicated", approval_id=str(approval.id), agent=approval.agent_name)
        return web.json_response(approval.as_json(), status=200, headers=location)
    logs.event("api.approvals.created", approval_id=str(approval.id), agent=approval.agent_name, status=approval.status)
    return web.json_response(approval.as_json(), status=201, headers=location)


async def read(request: web.Request) -> web.Response:
    require_role(request)
    approval_id = _approval_id(request)
    try:
        wait_s = parse_wait(request.query.get("wait"), limit=MAX_WAIT_S)
    except InvalidField as exc:
        return _bad(exc)
    if wait_s == 0:
        async with as_caller(request) as conn:
            approval = await approvals.get(conn, approval_id)
        return _answer(approval)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    hub = request.app[HUB]
    with hub.watching(approvals.NOTIFY_CHANNEL, str(approval_id)) as woken:
        async with as_caller(request) as conn:
            approval = await approvals.get(conn, approval_id)
        while True:
            remaining = deadline - loop.time()
            if approval is None or approval.status != Status.PENDING or remaining <= 0 or hub.closing:
                return _answer(approval)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, RECHECK_S)):
                    await woken.wait()
            woken.clear()
            # With every other long-poll woken meanwhile: one query for them all (domain/approvals/reads.py).
            approval = await request.app[REREADS].get(request.app[POOL], approval_id)


def _answer(approval: Approval | None) -> web.Response:
    if approval is None:
        return json_error(404, "no approval request with this id")
    return web.json_response(approval.as_json())


async def cancel(request: web.Request) -> web.Response:
    who = require_role(request)
    approval_id = _approval_id(request)
    try:
        body = await _json_body(request, optional=True)
        if not isinstance(body, dict):
            raise InvalidField("body", "must be a JSON object")
        reason = parse_reason(body.get("reason"))
    except InvalidField as exc:
        return _bad(exc)
    async with as_caller(request) as conn:
        outcome = await approvals.cancel(conn, approval_id, by=f"api:{who.subject or who.role}", reason=reason)
    if outcome.approval is None:
        return json_error(404, "no approval request with this id")
    if not outcome.won:
        return json_error(
            409, f"the request is {outcome.approval.status}, not pending", approval=outcome.approval.as_json()
        )
    logs.event("api.approvals.cancelled", approval_id=str(approval_id))
    return web.json_response(outcome.approval.as_json())


APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "agent_name": {"type": "string"},
        "action_type": {"type": "string"},
        "action_details": {"type": "object"},
        "risk_level": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
        "status": {"type": "string", "enum": [s.value for s in Status]},
        "slack_channel_id": {"type": ["string", "null"]},
        "slack_message_ts": {"type": ["string", "null"]},
        "slack_thread_ts": {"type": ["string", "null"]},
        "resolved_by": {"type": ["string", "null"]},
        "resolved_at": {"type": ["string", "null"], "format": "date-time"},
        "rejection_reason": {"type": ["string", "null"]},
        "continuation_event_type": {"type": ["string", "null"]},
        "continuation_payload": {"type": ["object", "null"]},
        "expires_at": {"type": "string", "format": "date-time"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
NEW_APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["agent_name", "action_type", "action_details", "risk_level"],
    "properties": {
        "agent_name": {"type": "string", "maxLength": 100},
        "action_type": {"type": "string", "maxLength": 100},
        "action_details": {"type": "object", "description": "at most 64 KiB of JSON"},
        "risk_level": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
        "continuation_event_type": {"type": "string", "maxLength": 100, "default": "approval.decided"},
        "continuation_payload": {"type": "object"},
        "channel": {"type": "string", "description": "Slack channel id; else approvals.channels, else the default"},
        "thread_ts": {"type": "string", "description": "post in this thread (e.g. an incident's)"},
        "expires_in_s": {"type": "integer", "minimum": 10, "maximum": 2592000, "default": 86400},
        "requested_by": {"type": "string", "description": "the Slack user id of the person asking; never a voter"},
        "editable": {
            "type": "object",
            "description": "JSON Schema (type object) over top-level keys of action_details an approver may edit",
        },
        "reject_options": {"type": "array", "items": {"type": "string", "maxLength": 75}, "maxItems": 10},
    },
}
ERRORS = {
    "400": {"description": "invalid input; `field` names the offending field"},
    "401": {"description": "missing, bad or expired token"},
    "403": {"description": "the role may not (service_role only)"},
}
ROW = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Approval"}}}}
ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}

OPENAPI = document(
    {
        "/api/v1/approvals": {
            "post": {
                "summary": "Ask a human in Slack to approve an action",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewApproval"}}},
                },
                "responses": {
                    "201": {"description": "created; the Slack message follows (or rejected at once by memory)", **ROW},
                    "200": {"description": "an identical request is pending: that one", **ROW},
                    **ERRORS,
                },
            }
        },
        "/api/v1/approvals/{id}": {
            "get": {
                "summary": "Read an approval request; ?wait=N holds the answer until it is decided or N s pass",
                "parameters": [
                    ID_PARAM,
                    {"name": "wait", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": 60}},
                ],
                "responses": {
                    "200": {"description": "the request", **ROW},
                    "404": {"description": "unknown"},
                    **ERRORS,
                },
            }
        },
        "/api/v1/approvals/{id}/cancel": {
            "post": {
                "summary": "Withdraw a pending request (continuation event with decision cancelled)",
                "parameters": [ID_PARAM],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {"schema": {"type": "object", "properties": {"reason": {"type": "string"}}}}
                    },
                },
                "responses": {
                    "200": {"description": "cancelled", **ROW},
                    "404": {"description": "unknown"},
                    "409": {"description": "not pending any more"},
                    **ERRORS,
                },
            }
        },
    },
    {"Approval": APPROVAL_SCHEMA, "NewApproval": NEW_APPROVAL_SCHEMA},
)


def setup(app: web.Application) -> None:
    app[REREADS] = Rereads()
    app.router.add_post("/api/v1/approvals", create)
    app.router.add_get("/api/v1/approvals/{id}", read)
    app.router.add_post("/api/v1/approvals/{id}/cancel", cancel)
