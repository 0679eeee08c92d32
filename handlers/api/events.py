"""The inter-agent bus over HTTP: publish, page by cursor, and a Server-Sent Events stream.

A stream is fed by the process's one bus reader (domain/bus/fanout.py), which fetches new rows once and
fans them out in memory, filtered per stream by the stream's filter and by the seed's RLS rules for its
caller's role. A stream that starts behind (Last-Event-ID), or whose bounded queue overflows because its
client is slow, reads its backlog from the table itself, as its caller (so RLS applies), by cursor, until
it has caught up with the reader. Every write waits for the socket to drain. ``id:`` is the highest seq
the stream has scanned up to: the event's own, or, after a quiet stretch, a ``: scanned`` comment's id
line, so a filtered stream that resumes never re-scans what it has already passed. A comment line is sent
as a heartbeat every ``HEARTBEAT_S`` seconds, on a fixed schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

import logs
from domain.approvals import store as approvals
from domain.approvals.rules import continuation_event_type
from domain.bus import events as bus
from domain.bus import fanout
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
from handlers.keys import HUB, POOL, SUPERVISOR

HEARTBEAT_S = 15.0
NUMBERED_S = 2.0  # how long a publish waits for the bus reader to number its event before doing it itself
PAGE = 100
MAX_SEQ = bus.MAX_SEQ
READER = web.AppKey("bus_reader", fanout.Reader)  # the process's one bus reader

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
        "next_cursor": {
            "type": "integer",
            "description": "the highest seq this page scanned, matched or not (at most 10,000 past ?after=): "
            "pass it as ?after= for the next page; an empty page with a higher next_cursor is normal",
        },
    },
}


async def _forged(request: web.Request, body: dict[str, Any], correlation: uuid.UUID | None) -> str | None:
    """Why this event would pass for one of the service's own (a decision, a status), else None."""
    why = bus.reserved(body["source_agent_id"], body["event_type"])
    if why is None and correlation is not None:
        async with as_caller(request) as conn:
            approval = await approvals.get(conn, correlation)
        kind = body["event_type"].strip().casefold()
        if approval is not None and kind == continuation_event_type(approval.continuation_event_type).casefold():
            why = "this is the continuation event of an approval request: only its decision emits it"
    return why


async def _numbered(request: web.Request, event_id: uuid.UUID, numbered: asyncio.Future[bus.Event]) -> bus.Event:
    """The committed event with its seq: from the process's bus reader, which numbers and fetches every
    burst of commits in one round (woken by their NOTIFY), so publishers share its statements. If the
    LISTEN connection is down or the reader does not answer in time, numbered here (the sequencer's lock
    is not held across anyone's transaction, so this waits at most for another sequencer run)."""
    if request.app[HUB].listening.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(NUMBERED_S):
                return await numbered
    async with request.app[POOL].acquire() as conn:
        await bus.sequence(conn)
        return await bus.get(conn, event_id)


@routes.post("/api/v1/events")
async def publish(request: web.Request) -> web.Response:
    """One statement as the caller commits the event (row level security applies); the bus reader then
    answers with its seq."""
    body = await json_body(request, EVENT_IN)
    correlation = uuid.UUID(body["correlation_id"]) if body.get("correlation_id") else None
    who = caller(request)
    why = await _forged(request, body, correlation)
    if why is not None:
        logs.event(
            "bus.publish_refused",
            logging.WARNING,
            caller=who.subject,
            role=who.role,
            source_agent_id=body["source_agent_id"][:200],
            event_type=body["event_type"][:200],
            correlation_id=str(correlation) if correlation else None,
            reason=why,
        )
        raise web.HTTPForbidden(reason=f"reserved: {why}")
    reader, event_id = request.app[READER], uuid.uuid4()
    numbered = reader.expect(event_id)  # before the commit: the reader cannot fetch it unawaited
    try:
        await bus.publish_as(
            request.app[POOL],
            who.role,
            json.dumps(who.claims),
            event_id,
            body["event_type"],
            body.get("payload") or {},
            targets=body.get("target_agent_ids") or [],
            correlation_id=correlation,
            source_agent_id=body["source_agent_id"],
            source_agent_type=body["source_agent_type"],
        )
        request.app[HUB].announce(bus.CHANNEL)
        event = await _numbered(request, event_id, numbered)
    finally:
        reader.forget(event_id)
    return created(event.as_json())


@routes.get("/api/v1/events")
async def page(request: web.Request) -> web.Response:
    after = query_int(request, "after", 0, minimum=0, maximum=MAX_SEQ)
    limit = query_int(request, "limit", 100, minimum=1, maximum=1000)
    where = bus.Filter(
        query_str(request, "target"), query_str(request, "event_type"), query_uuid(request, "correlation_id")
    )
    await bus.sequence(request.app[POOL])  # what has committed is numbered: a caller reads its own writes
    async with as_caller(request) as conn:
        found = await bus.page_after(conn, after, where, limit=limit)
    return ok({"events": [e.as_json() for e in found.events], "next_cursor": found.next})


def _resume_point(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.query.get("after")
    if raw is None or raw == "":
        return None
    seq = ascii_int(raw)
    if seq is None or seq > MAX_SEQ:
        raise bad_request("Last-Event-ID (or ?after=) must be an event offset (a non-negative integer)")
    return seq


def frame(event: bus.Event) -> bytes:
    return event.sse_bytes


def scanned(seq: int) -> bytes:
    """Moves the client's Last-Event-ID past rows it had no match in (an SSE message with no data is not
    dispatched to the client's handlers, but its id is kept); sent with a heartbeat."""
    return f": scanned\nid: {seq}\n\n".encode()


@routes.get("/api/v1/events/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    where = bus.Filter(query_str(request, "target"), query_str(request, "event_type"))
    last = _resume_point(request)
    reader = request.app[READER]
    subscription = reader.subscribe(where, caller(request).role)  # before the first read: nothing slips
    try:
        if last is None:  # a new subscriber starts at the tail; one that resumes passes Last-Event-ID
            async with as_caller(request) as conn:
                last = await bus.tail(conn)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        try:
            await response.write(f"retry: 1000\n: connected at {last}\n\n".encode())
            await _follow(request, response, subscription, last)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        except Exception as exc:  # after prepare() there is no JSON error to send: end, the client resumes
            logs.event("bus.stream_failed", logging.WARNING, error=repr(exc), last=last)
    finally:
        reader.unsubscribe(subscription)
    return response


async def _follow(
    request: web.Request, response: web.StreamResponse, subscription: fanout.Subscription, last: int
) -> None:
    hub, reader = request.app[HUB], request.app[READER]
    expires = float(caller(request).claims.get("exp", 0)) or None
    loop = asyncio.get_running_loop()
    end_at = loop.time() + (expires - time.time()) if expires is not None else math.inf
    beat_at = loop.time() + HEARTBEAT_S  # a fixed schedule: no wake-up (a busy bus) postpones it
    # one timer per heartbeat (not a timeout per wake-up: a busy bus wakes every stream often)
    timer = loop.call_at(min(beat_at, end_at), subscription.wake.set)
    told = last
    try:
        while not (hub.closing or reader.closing) and loop.time() < end_at:
            subscription.wake.clear()
            more = False
            if subscription.behind:  # the backlog, from the table as the caller, until caught up
                async with as_caller(request) as conn:
                    found = await bus.page_after(conn, last, subscription.where, limit=PAGE)
                for event in found.events:
                    await response.write(frame(event))  # waits while the client is slow
                    told = event.seq
                last = max(last, found.next)
                more = found.next < found.tail or not subscription.go_live(last)
            else:
                taken, reach = subscription.take()
                fresh = [event for event in taken if event.seq > last]
                if fresh:  # one write for all that is queued: a burst costs a write per wake, not per event
                    await response.write(b"".join(frame(event) for event in fresh))
                    last = told = fresh[-1].seq
                last = max(last, reach)
            if loop.time() >= beat_at:
                await response.write(b": heartbeat\n\n" if told == last else b": heartbeat\n" + scanned(last))
                told = last
                beat_at = loop.time() + HEARTBEAT_S
                timer.cancel()
                timer = loop.call_at(min(beat_at, end_at), subscription.wake.set)
            if not more:
                await subscription.wake.wait()
    finally:
        timer.cancel()


async def bus_reader(app: web.Application) -> AsyncIterator[None]:
    """The process's one bus reader, a supervised component woken by the ``agent_events`` NOTIFY."""
    reader, pool, hub, supervisor = app[READER], app[POOL], app[HUB], app[SUPERVISOR]
    wake = hub.subscribe(bus.CHANNEL)
    supervisor.start("bus", lambda: reader.run(pool, wake))
    yield
    reader.close()
    await supervisor.stop("bus")
    hub.unsubscribe(bus.CHANNEL, wake)


async def close_reader(app: web.Application) -> None:
    app[READER].close()  # streams end now instead of holding the shutdown


def setup(app: web.Application) -> None:
    app[READER] = fanout.Reader()
    app.cleanup_ctx.append(bus_reader)
    app.on_shutdown.append(close_reader)
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
                        "description": "an endless text/event-stream; `id:` is the event's seq, or, on a "
                        "`: scanned` comment, the highest seq scanned without a match: resume with it",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **{k: v for k, v in responses("200", {}).items() if k != "200"},
                },
            }
        },
    },
    {"EventIn": EVENT_IN, "Event": EVENT, "EventPage": EVENT_PAGE},
)
