"""slack-bolt's AsyncApp at POST /slack/events, or over Socket Mode with SLACK_APP_TOKEN.

The feature modules beside this one bind their listeners with ``register(bolt, app)``, called in the
list in ``handlers/slack/__init__.py``; each listener acks first.

Bolt parses a body before it checks the signature, so an unsigned ``payload=not-json`` reached a 500.
Here every HTTP request is checked first, on the raw bytes: timestamp of ASCII digits, signature and
5-minute replay window with slack_sdk's SignatureVerifier (401), then UTF-8 and the shape Bolt will parse
(400); only then does Bolt see it (and verifies it once more). Nothing of a refused request is logged
but the reason, and Bolt's own loggers stay below INFO's chatter (they logged a stale request's body).

A fast path (``FAST_PATHS``, by action_id: the Approve button) skips Bolt for a verified one-button block
action: Bolt verifies and parses the body a second time and its ack waits in a 10 ms polling loop. The
answer (the ack) goes at once; the work runs in a task that shutdown drains like Bolt's listeners.
Socket Mode still goes through Bolt's listener for the same action.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

import logs
from config import Config
from handlers.errors import json_error
from handlers.keys import CONFIG
from integrations.slack import client as slack_api
from integrations.webhooks.depth import MAX_DEPTH, TooDeep, loads

BOLT = web.AppKey("bolt", AsyncApp)
FastPath = Callable[[dict[str, Any]], Awaitable[None]]
# Interactions answered without Bolt (by action_id): a feature registers one in its ``register``.
FAST_PATHS = web.AppKey("slack_fast_paths", dict[str, FastPath])
FAST_TASKS = web.AppKey("slack_fast_tasks", set[asyncio.Task[None]])
FAST_TASK = "slack-fast-path"
DRAIN_S = 10.0
# Bolt runs each listener in a task of its own and answers Slack as soon as the listener acks; the task's
# coroutine is this function of slack_bolt's asyncio runner. Nothing else tracks those tasks.
LISTENER_TASK = "run_ack_function_asynchronously"
LOGGER = "swarm_bridge.slack"
MAX_TIMESTAMP_DIGITS = 12


class Refused(Exception):
    """A Slack request turned away before Bolt: ``status`` is the answer, the message its reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def verified_text(body: bytes, headers: Any, verifier: SignatureVerifier) -> str:
    """The body as text once its signature and timestamp hold (401 otherwise), UTF-8 (400)."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_TIMESTAMP_DIGITS):
        raise Refused(401, "missing or malformed X-Slack-Request-Timestamp")
    if not signature.isascii() or not signature.startswith("v0="):
        raise Refused(401, "missing or malformed X-Slack-Signature")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(400, "body is not UTF-8") from exc
    if not verifier.is_valid(text, timestamp, signature):
        raise Refused(401, "invalid signature or stale timestamp")
    return text


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = loads(text)
    except TooDeep as exc:
        raise Refused(400, f"{what} nests JSON deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:
        raise Refused(400, f"{what} is not JSON") from exc
    if not isinstance(value, dict):
        raise Refused(400, f"{what} is not a JSON object")
    return value


def check_shape(text: str, content_type: str) -> dict[str, Any] | None:
    """What Bolt's parse_body will read must be there: a JSON object, or a form whose ``payload`` is one.

    Returns the interaction payload of a form (what the fast paths read), else None."""
    if not text:
        return None
    if content_type == "application/json" or text.startswith("{"):
        _json_object(text, "body")
    elif "payload" in text:
        payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
        if payload is not None:
            return _json_object(payload, "payload")
    return None


def fast_path(app: web.Application, payload: dict[str, Any]) -> FastPath | None:
    """The fast path registered for this interaction: a block action of one button, by a user."""
    actions = payload.get("actions")
    if payload.get("type") != "block_actions" or not isinstance(actions, list) or len(actions) != 1:
        return None
    user = payload.get("user")
    if not isinstance(actions[0], dict) or not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return None
    return app[FAST_PATHS].get(str(actions[0].get("action_id")))


async def _run_fast(handler: FastPath, payload: dict[str, Any]) -> None:
    try:
        await handler(payload)
    except Exception as exc:
        logs.event("slack.fast_path.failed", logging.ERROR, error=type(exc).__name__)


def build_bolt(config: Config) -> AsyncApp:
    token = config.slack_bot_token

    async def authorize(**_: object) -> AuthorizeResult:
        # A single-workspace app: no auth.test call on the request path, whatever Slack's latency.
        return AuthorizeResult(enterprise_id=None, team_id=None, bot_token=token)

    # Bolt's loggers copy this one's level when they are made: its INFO lines carry request bodies.
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.WARNING)
    return AsyncApp(
        signing_secret=config.slack_signing_secret or "socket-mode-does-not-sign",
        client=slack_api.make_client(config, with_token=False),
        authorize=authorize,
        request_verification_enabled=config.slack_app_token is None,
        logger=logger,
    )


async def events(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    # Socket Mode needs no signing secret: say where Slack is served rather than that a secret is missing.
    if config.slack_app_token is not None:
        return json_error(404, "Slack is served over Socket Mode (SLACK_APP_TOKEN is set)")
    if config.slack_signing_secret is None:
        return json_error(503, "Slack is not configured: set SLACK_SIGNING_SECRET (and SLACK_BOT_TOKEN)")
    verifier = SignatureVerifier(config.slack_signing_secret)
    try:
        text = verified_text(await request.read(), request.headers, verifier)
        payload = check_shape(text, request.content_type)
        handler = fast_path(request.app, payload) if payload is not None else None
        if handler is not None and payload is not None:
            # Verified and parsed once: the ack is this answer, the work follows in a task of its own.
            task = asyncio.create_task(_run_fast(handler, payload), name=FAST_TASK)
            tasks = request.app[FAST_TASKS]
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            return web.Response(status=200)
        try:
            bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=request.headers)  # type: ignore[arg-type]
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            raise Refused(400, "body does not have the shape of a Slack request") from exc
    except Refused as exc:
        logs.event("slack.refused", logging.WARNING, status=exc.status, reason=str(exc))
        return json_error(exc.status, str(exc))
    bolt_response = await request.app[BOLT].async_dispatch(bolt_request)
    return await to_aiohttp_response(bolt_response)


async def socket_mode(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    if config.slack_app_token is None:
        yield
        return
    handler = AsyncSocketModeHandler(app[BOLT], config.slack_app_token)

    async def connect() -> None:
        # slack_sdk retries until it connects (Slack down, token refused): in the background, so that
        # never keeps the HTTP API from starting.
        await handler.connect_async()  # type: ignore[no-untyped-call]
        logs.event("slack.socket_mode.connected")

    connecting = asyncio.create_task(connect(), name="slack-socket-mode-connect")
    yield
    connecting.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await connecting
    with contextlib.suppress(Exception):
        await handler.close_async()  # type: ignore[no-untyped-call]


def running_listeners() -> list[asyncio.Task[object]]:
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done() and getattr(t.get_coro(), "__qualname__", "").endswith(LISTENER_TASK)
    ]


async def drain_listeners(app: web.Application) -> None:
    """At shutdown, let listeners still working after their ack finish (bounded by ``DRAIN_S``), while
    the pool and clients they use are still open."""
    pending = running_listeners() + list(app[FAST_TASKS])
    if not pending:
        return
    logs.event("slack.listeners.draining", count=len(pending))
    _, late = await asyncio.wait(pending, timeout=DRAIN_S)
    for task in late:
        task.cancel()
    if late:
        logs.event("slack.listeners.cancelled", logging.WARNING, count=len(late), waited_s=DRAIN_S)


def setup(app: web.Application) -> AsyncApp:
    bolt = build_bolt(app[CONFIG])
    app[BOLT] = bolt
    app[FAST_PATHS] = {}
    app[FAST_TASKS] = set()
    app.router.add_post("/slack/events", events)
    app.cleanup_ctx.append(socket_mode)
    app.on_shutdown.append(drain_listeners)
    return bolt
