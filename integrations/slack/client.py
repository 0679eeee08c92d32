"""The Slack Web API client used by outbox handlers (slack_sdk's AsyncWebClient on SLACK_API_URL).

The outbox's client has no slack_sdk retry handlers: a 429 becomes ``RetryLater(Retry-After)`` (the row
waits in the outbox, nothing sleeps inside a batch), and a connection error is the outbox's to retry,
after it has looked for what the failed attempt may have posted (``post_once``). Failures are sorted
here: 429 -> RetryLater; 5xx, timeouts, connection errors and Slack's own transient errors -> retried
with backoff; any other ``ok: false`` or 4xx -> ``SlackRefused`` (Permanent: the row goes dead).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

import logs
from config import Config
from jobs import outbox
from jobs.outbox import Context, RetryLater

TIMEOUT_S = 10
DEFAULT_RETRY_AFTER_S = 30.0
HISTORY_PAGES = 5
# ok:false errors that heal by themselves (https://api.slack.com/web#errors); every other one is permanent.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class SlackRefused(outbox.Permanent):
    """Slack refused the call for a reason waiting cannot fix (``error`` is Slack's code)."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"Slack {method} refused: {error}")
        self.error = error


class SlackUnavailable(RuntimeError):
    """Slack answered 5xx or a transient error: retried with backoff."""


def make_client(config: Config, *, with_token: bool = True) -> AsyncWebClient:
    """Bolt's client, with slack_sdk's retry handlers: one quick retry on a connection error or a short 429.

    Bolt's client goes ``with_token=False``: Bolt sets the token per request from its ``authorize``.
    """
    token = config.slack_bot_token if with_token else None
    client = AsyncWebClient(token=token, base_url=config.slack_api_url, timeout=TIMEOUT_S)
    client.retry_handlers.extend(
        [AsyncConnectionErrorRetryHandler(max_retry_count=1), AsyncRateLimitErrorRetryHandler(max_retry_count=1)]
    )
    return client


def outbox_client(
    config: Config, *, timeout_s: int = TIMEOUT_S, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """The outbox's client: no retry handlers at all (no sleep on a 429, no blind re-send). With
    ``session`` its connections are kept alive (slack_sdk opens a session, and a connection, per call
    without one: 11% of the outbox's time under the benchmark)."""
    return AsyncWebClient(
        token=config.slack_bot_token,
        base_url=config.slack_api_url,
        timeout=timeout_s,
        retry_handlers=[],
        session=session,
    )


def client(ctx: Context) -> AsyncWebClient:
    """The outbox's shared client; RetryLater (work waits in the outbox) while SLACK_BOT_TOKEN is unset."""
    if ctx.config.slack_bot_token is None:
        raise RetryLater(300, "SLACK_BOT_TOKEN is not set: Slack messages wait in the outbox")
    if "slack" not in ctx.clients:
        ctx.clients["slack"] = outbox_client(ctx.config, session=aiohttp.ClientSession())
    found: AsyncWebClient = ctx.clients["slack"]
    return found


async def close(ctx: Context) -> None:
    """Close the context's Slack session, if one was opened."""
    made: AsyncWebClient | None = ctx.clients.pop("slack", None)
    if made is not None and made.session is not None:
        await made.session.close()


def retry_after_s(headers: Any) -> float:
    """Slack's Retry-After in seconds (a default when missing or malformed)."""
    raw = None
    if headers is not None:
        raw = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(float(raw), 0.0) if raw is not None else DEFAULT_RETRY_AFTER_S
    except ValueError:
        return DEFAULT_RETRY_AFTER_S


def classify(method: str, exc: SlackApiError) -> Exception:
    """What a SlackApiError means for the outbox: RetryLater, SlackUnavailable or SlackRefused."""
    response = exc.response
    # A body that was not JSON leaves the raw aiohttp response here (``status``, not ``status_code``).
    status = getattr(response, "status_code", None) or getattr(response, "status", None) or 0
    data = getattr(response, "data", None)
    error = str(data.get("error", "")) if isinstance(data, dict) else ""
    if status == 429 or error in ("ratelimited", "rate_limited"):
        return RetryLater(retry_after_s(getattr(response, "headers", None)), f"Slack {method} rate limited")
    if status >= 500 or error in TRANSIENT_ERRORS:
        return SlackUnavailable(f"Slack {method} answered {status} {error}".rstrip())
    return SlackRefused(method, error or f"HTTP {status}")


async def call(ctx: Context, method: str, **kwargs: Any) -> dict[str, Any]:
    """Call a Web API method from an outbox handler (JSON body); failures sorted as the module says."""
    try:
        response = await client(ctx).api_call(method, json=kwargs)
    except SlackApiError as exc:
        raise classify(method, exc) from exc
    data: dict[str, Any] = dict(response.data) if isinstance(response.data, dict) else {}
    return data


async def read(ctx: Context, method: str, **params: Any) -> dict[str, Any]:
    """Call a read method (``conversations.history``), which Slack takes as a query, not JSON."""
    try:
        response = await client(ctx).api_call(method, http_verb="GET", params=params)
    except SlackApiError as exc:
        raise classify(method, exc) from exc
    data: dict[str, Any] = dict(response.data) if isinstance(response.data, dict) else {}
    return data


def metadata(event_type: str, **key: str) -> dict[str, Any]:
    """Message metadata naming what a message is for, so a later attempt can find it."""
    return {"event_type": event_type, "event_payload": key}


def _is(message: dict[str, Any], event_type: str, key: dict[str, str]) -> bool:
    found = message.get("metadata") or {}
    payload = found.get("event_payload") or {}
    return bool(found.get("event_type") == event_type and all(payload.get(k) == v for k, v in key.items()))


async def find_posted(
    ctx: Context, channel: str, event_type: str, key: dict[str, str], *, thread_ts: str | None, oldest: float | None
) -> dict[str, Any] | None:
    """The message posted in ``channel`` (or in the thread ``thread_ts``) with this metadata, if any."""
    method = "conversations.replies" if thread_ts else "conversations.history"
    params: dict[str, Any] = {"channel": channel, "include_all_metadata": "true", "limit": 200}
    if thread_ts:
        params["ts"] = thread_ts
    if oldest is not None:
        params["oldest"] = f"{oldest:.6f}"
    for _ in range(HISTORY_PAGES):
        page = await read(ctx, method, **params)
        for message in page.get("messages") or []:
            if isinstance(message, dict) and _is(message, event_type, key):
                return message
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
        params["cursor"] = cursor
    return None


async def post_once(
    ctx: Context,
    channel: str,
    event_type: str,
    key: dict[str, str],
    *,
    thread_ts: str | None = None,
    oldest: float | None = None,
    **args: Any,
) -> tuple[dict[str, Any], bool]:
    """chat.postMessage carrying ``metadata(event_type, **key)``. When an earlier attempt of this outbox
    row may have posted (``outbox.in_doubt()``), look for that message first and adopt it instead of
    posting a second one. Returns the answer (``channel``, ``ts``) and whether it was adopted."""
    if outbox.in_doubt():
        try:
            found = await find_posted(ctx, channel, event_type, key, thread_ts=thread_ts, oldest=oldest)
        except SlackRefused as exc:
            # Without the history scopes (or outside the channel) nothing can be looked up: posting again
            # risks a second copy, which beats a message never sent.
            logs.event("slack.reconcile_refused", logging.WARNING, channel=channel, error=exc.error)
            found = None
        if found is not None:
            logs.event("slack.orphan_adopted", channel=channel, ts=found.get("ts"), event_type=event_type, key=key)
            return {"ok": True, "channel": channel, "ts": str(found["ts"])}, True
    if thread_ts:
        args["thread_ts"] = thread_ts
    answer = await call(ctx, "chat.postMessage", channel=channel, metadata=metadata(event_type, **key), **args)
    return answer, False
