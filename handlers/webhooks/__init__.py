"""Webhook endpoints. Until ingestion is built they refuse everything: never accept unsigned input."""

from __future__ import annotations

from aiohttp import web

from handlers.errors import json_error
from handlers.keys import CONFIG

SECRETS = {
    "sentry": "sentry_client_secret",
    "github": "github_webhook_secret",
    "linear": "linear_webhook_secret",
}


async def receive(request: web.Request) -> web.Response:
    source = request.match_info["source"]
    setting = SECRETS[source]
    if getattr(request.app[CONFIG], setting) is None:
        return json_error(503, f"{source} webhooks are not configured: set {setting.upper()}")
    return json_error(503, f"{source} webhook ingestion is not available yet")


def setup(app: web.Application) -> None:
    app.router.add_post("/webhooks/{source:sentry|github|linear}", receive)
