"""POST /webhooks/{sentry|github|linear}: verify, store once, process, answer.

Order of checks: secret configured (503) -> body <= 1 MiB (413) -> HMAC-SHA256 over the raw bytes
(401, nothing stored) -> Linear's webhookTimestamp / Sentry-Hook-Timestamp within 60 s (401) -> JSON
(400) -> stored once in webhook_deliveries (a repeated delivery id, or the same body again under a new
one: 200 duplicate) -> callbacks of the router in one transaction (200), or stored and not acted on
(202; also when processing failed or the database went away after the store: the inbox retries it).
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

import logs
from db.errors import UNAVAILABLE
from handlers.errors import json_error
from handlers.keys import CONFIG, POOL, WIRING
from integrations.webhooks.verify import MAX_BODY, SPECS, Rejected, Source, verify
from jobs import inbox


async def receive(request: web.Request) -> web.Response:
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

    pool = request.app[POOL]
    try:
        row_id = await inbox.store(
            pool,
            source=source.value,
            delivery_id=verified.delivery_id,
            event_type=verified.event_type,
            action=verified.action,
            headers=inbox.kept_headers(request.headers),
            body=body,
        )
    except UNAVAILABLE as exc:
        logs.event(f"webhook.{source}.store_failed", logging.ERROR, delivery=verified.delivery_id, error=str(exc))
        return json_error(503, "database unavailable: the delivery was not stored, retry later")
    if row_id is None:
        logs.event(f"webhook.{source}.duplicate", delivery=verified.delivery_id)
        await _finish_left_behind(request, source, verified.delivery_id, body)
        return web.json_response({"ok": True, "duplicate": True, "delivery": verified.delivery_id})

    try:
        outcome = await inbox.process(pool, request.app[WIRING].router, row_id)
    except UNAVAILABLE as exc:
        logs.event(f"webhook.{source}.deferred", logging.WARNING, delivery=verified.delivery_id, error=str(exc))
        return web.json_response({"ok": True, "delivery": verified.delivery_id, "queued": True}, status=202)
    logs.event(f"webhook.{source}.{outcome}", delivery=verified.delivery_id, event_type=verified.event_type)
    if outcome == "processed":
        return web.json_response({"ok": True, "delivery": verified.delivery_id})
    if outcome == "ignored":
        return web.json_response({"ok": True, "delivery": verified.delivery_id, "ignored": True}, status=202)
    if outcome == "dead":
        # Stored, and kept for `python app.py deliveries` / `replay`: resending the same body cannot help.
        return web.json_response({"ok": True, "delivery": verified.delivery_id, "dead": True}, status=202)
    # Stored but failed: the retry job takes it from here; the sender need not resend.
    return web.json_response({"ok": True, "delivery": verified.delivery_id, "retrying": True}, status=202)


async def _finish_left_behind(request: web.Request, source: Source, delivery_id: str, body: bytes) -> None:
    """A resent delivery whose first copy was stored but never processed (the process died in between)
    is processed now, not only by the retry job minutes later; the answer stays ``duplicate``."""
    try:
        row_id = await inbox.left_behind(request.app[POOL], source.value, delivery_id, body)
        if row_id is not None:
            outcome = await inbox.process(request.app[POOL], request.app[WIRING].router, row_id)
            logs.event(f"webhook.{source}.left_behind", delivery=delivery_id, outcome=outcome)
    except UNAVAILABLE as exc:
        logs.event(f"webhook.{source}.deferred", logging.WARNING, delivery=delivery_id, error=str(exc))


def setup(app: web.Application) -> None:
    app.router.add_post("/webhooks/{source:sentry|github|linear}", receive)
