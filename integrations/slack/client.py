"""The Slack Web API client used by outbox handlers (slack_sdk's AsyncWebClient on SLACK_API_URL)."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from config import Config
from jobs.outbox import Context, RetryLater

TIMEOUT_S = 10


def make_client(config: Config, *, with_token: bool = True) -> AsyncWebClient:
    """A client with slack_sdk's retry handlers: one quick retry on a connection error or a short 429.

    Bolt's client goes ``with_token=False``: Bolt sets the token per request from its ``authorize``.
    """
    token = config.slack_bot_token if with_token else None
    client = AsyncWebClient(token=token, base_url=config.slack_api_url, timeout=TIMEOUT_S)
    client.retry_handlers.extend(
        [AsyncConnectionErrorRetryHandler(max_retry_count=1), AsyncRateLimitErrorRetryHandler(max_retry_count=1)]
    )
    return client


def client(ctx: Context) -> AsyncWebClient:
    """The outbox's shared client; RetryLater (work waits in the outbox) while SLACK_BOT_TOKEN is unset."""
    if ctx.config.slack_bot_token is None:
        raise RetryLater(300, "SLACK_BOT_TOKEN is not set: Slack messages wait in the outbox")
    if "slack" not in ctx.clients:
        ctx.clients["slack"] = make_client(ctx.config)
    found: AsyncWebClient = ctx.clients["slack"]
    return found


async def call(ctx: Context, method: str, **kwargs: Any) -> dict[str, Any]:
    """Call a Web API method from an outbox handler; a 429 becomes RetryLater(Retry-After)."""
    try:
        response = await client(ctx).api_call(method, json=kwargs)
    except SlackApiError as exc:
        if exc.response.status_code == 429:
            retry_after = float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 30)))
            raise RetryLater(retry_after, f"Slack {method} rate limited") from exc
        raise
    data: dict[str, Any] = dict(response.data) if isinstance(response.data, dict) else {}
    return data
