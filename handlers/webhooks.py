"""POST /webhooks/{sentry|github|linear}: verify, store once, answer; the inbox workers process it.

Order of checks: secret configured (503) -> body <= 1 MiB (413) -> HMAC-SHA256 over the raw bytes
(401, nothing stored) -> Linear's webhookTimestamp / Sentry-Hook-Timestamp within 60 s (401) -> JSON
(400) -> stored once in webhook_deliveries, in one statement and commit with the deliveries that arrive
meanwhile (jobs/intake.py; a repeated delivery id, or the same body again under a new one: 200 duplicate).
The answer follows the durable store: 200 ``queued`` for an event the router handles (processing follows,
jobs/inbox_worker.py), 202 ``ignored`` for one nobody handles.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

import logs
from db.errors import UNAVAILABLE
from handlers.errors import json_error
from handlers.keys import CONFIG, INBOX_WAKEUP, INTAKE, POOL, WIRING
from integrations.webhooks.order import order_key
from integrations.webhooks.verify import MAX_BODY, SPECS, Rejected, Source, verify
from jobs import inbox
from jobs.intake import Delivery


async def receive(request: web.Request) -> web.Response:
    with request.app[INBOX_WAKEUP].answer():
        return await _receive(request)


async def _receive(request: web.Request) -> web.Response:
    source = Source(request.match_info["source"])
    spec = SPECS[source]
    secret = getattr(request.app[CONFIG], spec.secret_setting)
    if secret is None:
        return json_error(503, f"{source} webhooks are not configured: set {spec.secret_setting.upper()}")
    if request.content_length is not None and request.content_length > MAX_BODY:
        logs.event(f"webhook.{source}.too_large", logging.WARNING, length=request.content_length)
        return json_error(413, f"body larger than {MAX_BODY} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        logs.event(f"webhook.{source}.too_large", logging.WARNING)
        return json_error(413, f"body larger than {MAX_BODY} bytes")
    if len(body) > MAX_BODY:
        return json_error(413, f"body larger than {MAX_BODY} bytes")
    try:
        verified = verify(source, request.headers, body, secret, now_ms=int(time.time() * 1000))
    except Rejected as exc:
        logs.event(exc.log_key, logging.WARNING, delivery=request.headers.get(spec.delivery_header))
        return json_error(exc.status, str(exc))

    handled = request.app[WIRING].router.handles(source.value, verified.event_type, verified.action)
    try:
        row_id = await request.app[INTAKE].store(
            request.app[POOL],
            Delivery(
                source=source.value,
                delivery_id=verified.delivery_id,
                event_type=verified.event_type,
                action=verified.action,
                headers=inbox.kept_headers(request.headers),
                body=body,
                order_key=inbox.storable(order_key(source.value, verified.event_type, verified.payload))
                if handled
                else None,
                handled=handled,
            ),
        )
    except UNAVAILABLE as exc:
        logs.event(f"webhook.{source}.store_failed", logging.ERROR, delivery=verified.delivery_id, error=str(exc))
        return json_error(503, "database unavailable: the delivery was not stored, retry later")
    if row_id is None:
        logs.event(f"webhook.{source}.duplicate", delivery=verified.delivery_id)
        return web.json_response({"ok": True, "duplicate": True, "delivery": verified.delivery_id})
    if not handled:
        logs.event(f"webhook.{source}.ignored", delivery=verified.delivery_id, event_type=verified.event_type)
        return web.json_response({"ok": True, "delivery": verified.delivery_id, "ignored": True}, status=202)
    request.app[INBOX_WAKEUP].one()
    return web.json_response({"ok": True, "delivery": verified.delivery_id, "queued": True})


def setup(app: web.Application) -> None:
    app.router.add_post("/webhooks/{source:sentry|github|linear}", receive)
