"""slack-bolt's AsyncApp at POST /slack/events, or over Socket Mode with SLACK_APP_TOKEN.

The feature modules beside this one bind their listeners with ``register(bolt, app)``, called in the
list in ``handlers/slack/__init__.py``; each listener acks first.
Bolt verifies every HTTP request's signature and 5-minute replay window (never disabled here).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult

import logs
from config import Config
from handlers.errors import json_error
from handlers.keys import CONFIG
from integrations.slack import client as slack_api

BOLT = web.AppKey("bolt", AsyncApp)
DRAIN_S = 10.0
# Bolt runs each listener in a task of its own and answers Slack as soon as the listener acks; the task's
# coroutine is this function of slack_bolt's asyncio runner. Nothing else tracks those tasks.
LISTENER_TASK = "run_ack_function_asynchronously"


def build_bolt(config: Config) -> AsyncApp:
    token = config.slack_bot_token

    async def authorize(**_: object) -> AuthorizeResult:
        # A single-workspace app: no auth.test call on the request path, whatever Slack's latency.
        return AuthorizeResult(enterprise_id=None, team_id=None, bot_token=token)

    return AsyncApp(
        signing_secret=config.slack_signing_secret or "socket-mode-does-not-sign",
        client=slack_api.make_client(config, with_token=False),
        authorize=authorize,
        request_verification_enabled=config.slack_app_token is None,
        logger=logging.getLogger("swarm_bridge.slack"),
    )


async def events(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    # Socket Mode needs no signing secret: say where Slack is served rather than that a secret is missing.
    if config.slack_app_token is not None:
        return json_error(404, "Slack is served over Socket Mode (SLACK_APP_TOKEN is set)")
    if config.slack_signing_secret is None:
        return json_error(503, "Slack is not configured: set SLACK_SIGNING_SECRET (and SLACK_BOT_TOKEN)")
    bolt_response = await request.app[BOLT].async_dispatch(await to_bolt_request(request))
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
    pending = running_listeners()
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
    app.router.add_post("/slack/events", events)
    app.cleanup_ctx.append(socket_mode)
    app.on_shutdown.append(drain_listeners)
    return bolt
