"""The inter-agent bus over HTTP: publish, page by cursor, and a Server-Sent Events stream.

The stream's rows always come from the table (after the last offset sent, as the caller's role, so RLS
applies); NOTIFY only wakes it (db/listen.py). Pages are bounded and every write waits for the
socket to drain, so a slow client holds at most one page in memory. A comment line is sent as a
heartbeat every ``HEARTBEAT_S`` seconds, which also re-reads the table as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Any

import asyncpg
from aiohttp import web

import logs
from domain.approvals import store as approvals
from domain.approvals.rules import continuation_event_type
from domain.bus import events as bus
from handlers.api import document
from handlers.api.auth import as_caller, caller
from handlers.api.bodies import (
    ascii_int,
    bad_request,
    created,
    json_body,
    ok,
    param,
    query_int,
    query_str,
    query_uuid,
    request_body,
    responses,
)
from handlers.keys import HUB

HEARTBEAT_S = 15.0
PAGE = 100
TAIL = "SELECT coalesce(max(seq), 0) FROM agent_event_offsets"
MAX_SEQ = 2**63 - 1

routes = web.RouteTableDef()

NAME = {"type": "string", "minLength": 1, "maxLength": 200}
EVENT_IN: dict[str, Any] = {
    "type": "object",
    "required": ["source_agent_id", "source_agent_type", "event_type"],
    "additionalProperties": False,
    "properties": {
        "source_agent_id": NAME,
        "source_agent_type": NAME,
        "event_type": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\r\\n]+$"},
        "payload": {"type": "object"},
        "target_agent_ids": {"type": "array", "items": NAME, "maxItems": 100},
        "correlation_id": {"type": ["string", "null"], "format": "uuid"},
    },
}
EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["seq", "id", "source_agent_id", "source_agent_type", "event_type", "payload", "created_at"],
    "properties": {
        "seq": {"type": "integer", "description": "commit-ordered offset: the cursor and the SSE id"},
        "id": {"type": "string", "format": "uuid"},
        "source_agent_id": {"type": "string"},
        "source_agent_type": {"type": "string"},
        "event_type": {"type": "string"},
        "payload": {"type": "object"},
        "target_agent_ids": {"type": ["array", "null"], "items": {"type": "string"}},
        "correlation_id": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
EVENT_PAGE = {
    "type": "object",
    "required": ["events", "next_cursor"],
    "properties": {
        "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
        "next_cursor": {"type": "integer", "description": "pass as ?after= for the next page"},
    },
}


async def _forged(conn: asyncpg.Connection, body: dict[str, Any], correlation: uuid.UUID | None) -> str | None:
    """Why this event would pass for one of the service's own (a decision, a status), else None."""
    why = bus.reserved(body["source_agent_id"], body["event_type"])
    if why is None and correlation is not None:
        approval = await approvals.get(conn, correlation)
        kind = body["event_type"].strip().casefold()
        if approval is not None and kind == continuation_event_type(approval.continuation_event_type).casefold():
            why = "this is the continuation event of an approval request: only its decision emits it"
    return why


@routes.post("/api/v1/events")
async def publish(request: web.Request) -> web.Response:
    body = await json_body(request, EVENT_IN)
    correlation = uuid.UUID(body["correlation_id"]) if body.get("correlation_id") else None
    async with as_caller(request) as conn:
        why = await _forged(conn, body, correlation)
        if why is not None:
            logs.event(
                "bus.publish_refused",
                logging.WARNING,
                caller=caller(request).subject,
                role=caller(request).role,
                source_agent_id=body["source_agent_id"][:200],
                event_type=body["event_type"][:200],
                correlation_id=str(correlation) if correlation else None,
                reason=why,
            )
            raise web.HTTPForbidden(reason=f"reserved: {why}")
        event_id = await bus.publish(
            conn,
            body["event_type"],
            body.get("payload") or {},
            targets=body.get("target_agent_ids") or [],
            correlation_id=correlation,
            source_agent_id=body["source_agent_id"],
            source_agent_type=body["source_agent_type"],
        )
        event = await bus.get(conn, event_id)
    return created(event.as_json())


@routes.get("/api/v1/events")
async def page(request: web.Request) -> web.Response:
    after = query_int(request, "after", 0, minimum=0, maximum=MAX_SEQ)
    limit = query_int(request, "limit", 100, minimum=1, maximum=1000)
    async with as_caller(request) as conn:
        events = await bus.read_after(
            conn,
            after,
            target=query_str(request, "target"),
            event_type=query_str(request, "event_type"),
            correlation_id=query_uuid(request, "correlation_id"),
            limit=limit,
        )
    return ok({"events": [e.as_json() for e in events], "next_cursor": events[-1].seq if events else after})


def _resume_point(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.query.get("after")
    if raw is None or raw == "":
        return None
    seq = ascii_int(raw)
    if seq is None or seq > MAX_SEQ:
        raise bad_request("Last-Event-ID (or ?after=) must be an event offset (a non-negative integer)")
    return seq


def frame(event: bus.Event) -> bytes:
    name = event.event_type.replace("\r", " ").replace("\n", " ")
    data = json.dumps(event.as_json(), separators=(",", ":"), default=str)
    return f"id: {event.seq}\nevent: {name}\ndata: {data}\n\n".encode()


@routes.get("/api/v1/events/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    target = query_str(request, "target")
    event_type = query_str(request, "event_type")
    last = _resume_point(request)
    hub = request.app[HUB]
    if last is None:  # a new subscriber starts at the tail; one that resumes passes Last-Event-ID
        async with as_caller(request) as conn:
            last = int(await conn.fetchval(TAIL))
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    wake = hub.subscribe(bus.CHANNEL)
    try:
        await response.prepare(request)
        await response.write(f"retry: 1000\n: connected at {last}\n\n".encode())
        expires = float(caller(request).claims.get("exp", 0)) or None
        loop = asyncio.get_running_loop()
        beat_at = loop.time() + HEARTBEAT_S  # a fixed schedule: no wake-up (a busy bus) postpones it
        while not hub.closing and (expires is None or time.time() < expires):  # an expired token ends it
            wake.clear()
            async with as_caller(request) as conn:
                events = await bus.read_after(conn, last, target=target, event_type=event_type, limit=PAGE)
            for event in events:
                await response.write(frame(event))  # waits while the client is slow: bounded buffer
                last = event.seq
            if loop.time() >= beat_at:
                await response.write(b": heartbeat\n\n")
                beat_at = loop.time() + HEARTBEAT_S
            if len(events) == PAGE:
                continue
            idle_s = beat_at - loop.time()
            if expires is not None:
                idle_s = min(idle_s, expires - time.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, idle_s)):
                    await wake.wait()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    except Exception as exc:  # after prepare() there is no JSON error to send: end, the client resumes
        logs.event("bus.stream_failed", logging.WARNING, error=repr(exc), last=last)
    finally:
        hub.unsubscribe(bus.CHANNEL, wake)
    return response


def setup(app: web.Application) -> None:
    app.add_routes(routes)


ERRORS = ("400", "401", "403")
OPENAPI = document(
    {
        "/api/v1/events": {
            "post": {
                "summary": "Publish an event on the bus (service_role)",
                "description": "403 for what would pass for the service's own events: the source `swarm-bridge`, "
                "event types `approval.*` and `coding_request.*`, and an approval request's continuation event "
                "type with that request's id as correlation_id. Agents accept decisions only from `swarm-bridge`.",
                "operationId": "publishEvent",
                "security": [{"bearer": []}],
                "requestBody": request_body("EventIn"),
                "responses": responses("201", {"$ref": "#/components/schemas/Event"}),
            },
            "get": {
                "summary": "A page of events after a cursor, in commit order",
                "operationId": "listEvents",
                "security": [{"bearer": []}],
                "parameters": [
                    param("target", {"type": "string", "maxLength": 200}, "an agent id: its events and broadcasts"),
                    param("event_type", {"type": "string", "maxLength": 200}),
                    param("correlation_id", {"type": "string", "format": "uuid"}),
                    param("after", {"type": "integer", "minimum": 0, "maximum": MAX_SEQ}, "cursor (seq)"),
                    param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                ],
                "responses": responses("200", {"$ref": "#/components/schemas/EventPage"}),
            },
        },
        "/api/v1/events/stream": {
            "get": {
                "summary": "Server-Sent Events: every event after Last-Event-ID (or the tail), then live",
                "operationId": "streamEvents",
                "security": [{"bearer": []}],
                "parameters": [
                    param("target", {"type": "string", "maxLength": 200}),
                    param("event_type", {"type": "string", "maxLength": 200}),
                    param("after", {"type": "integer", "minimum": 0, "maximum": MAX_SEQ}),
                    param("Last-Event-ID", {"type": "string", "pattern": "^[0-9]{1,18}$"}, where="header"),
                ],
                "responses": {
                    "200": {
                        "description": "an endless text/event-stream; `id:` is the event's seq",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **{k: v for k, v in responses("200", {}).items() if k != "200"},
                },
            }
        },
    },
    {"EventIn": EVENT_IN, "Event": EVENT, "EventPage": EVENT_PAGE},
)
