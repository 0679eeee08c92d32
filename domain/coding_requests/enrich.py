"""Enriching a coding request filed from Slack, after it is stored: the requester's name and email
(``users.info``) and the source message's permalink (``chat.getPermalink``), through the outbox.

The submission stores the row first and queues this, so a Slack hiccup never loses a filing: a 5xx or a
body that is not JSON is retried by the outbox with backoff, a 429 waits its Retry-After, and an answer
that cannot change (user_not_found ...) leaves that field empty. Fields already set are never overwritten.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

import logs
from domain.coding_requests.rules import CodingRequest, SlackOrigin
from integrations.slack import client as slack_api
from jobs import outbox

ENRICH = "coding_request.enrich"
# Slack's answers that retrying cannot change: the field stays empty.
FINAL_ERRORS = frozenset(
    {"user_not_found", "user_not_visible", "message_not_found", "channel_not_found", "not_in_channel", "missing_scope"}
)
FILL = """
UPDATE coding_requests
SET requested_by_name = coalesce(requested_by_name, $2), requested_by_email = coalesce(requested_by_email, $3),
    source_url = coalesce(source_url, $4)
WHERE id = $1
RETURNING id
"""


async def queue(conn: asyncpg.Connection, req: CodingRequest) -> None:
    """Queue the enrichment of a request just filed from Slack, in the filing's transaction."""
    if req.source != "slack" or not req.requested_by_id:
        return
    origin = SlackOrigin.from_source_id(req.source_id)
    payload = {
        "request_id": str(req.id),
        "user": req.requested_by_id,
        "channel": origin.channel if origin.kind == "message" else None,
        "message_ts": origin.key.partition(":")[2] if origin.kind == "message" else None,
    }
    await outbox.enqueue(conn, ENRICH, payload, dedupe_key=f"{ENRICH}:{req.id}")


def _error(exc: SlackApiError) -> str | None:
    """Slack's ``error`` code, when the answer was JSON at all (a 503 from a proxy is plain text)."""
    data = exc.response.data if exc.response is not None else None
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) else None


async def _ask(method: str, call: Any) -> dict[str, Any] | None:
    """The answer's data; None for a final error; RetryLater on a 429; other failures raise (retried)."""
    try:
        response = await call
    except SlackApiError as exc:
        if exc.response is not None and exc.response.status_code == 429:
            retry_after = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after") or 30
            raise outbox.RetryLater(float(retry_after), f"Slack {method} rate limited") from exc
        error = _error(exc)
        if error in FINAL_ERRORS:
            logs.event("coding_request.enrich_skipped", logging.WARNING, method=method, error=error)
            return None
        status = exc.response.status_code if exc.response is not None else None
        raise RuntimeError(f"Slack {method} failed: HTTP {status}, error {error or 'unreadable answer'}") from None
    return response.data if isinstance(response.data, dict) else None


async def enrich(ctx: outbox.Context, payload: dict[str, Any]) -> dict[str, Any]:
    client: AsyncWebClient = slack_api.client(ctx)
    user = await _ask("users.info", client.users_info(user=payload["user"])) or {}
    found = user.get("user") or {}
    profile = found.get("profile") or {}
    name = profile.get("real_name") or found.get("real_name") or profile.get("display_name") or found.get("name")
    link = None
    if payload.get("channel") and payload.get("message_ts"):
        answer = await _ask(
            "chat.getPermalink", client.chat_getPermalink(channel=payload["channel"], message_ts=payload["message_ts"])
        )
        link = (answer or {}).get("permalink")
    filled = await ctx.pool.fetchval(
        FILL,
        uuid.UUID(payload["request_id"]),
        name if isinstance(name, str) else None,
        profile.get("email") if isinstance(profile.get("email"), str) else None,
        link if isinstance(link, str) else None,
    )
    return {"filled": filled is not None, "name": name is not None, "permalink": link is not None}


OUTBOX: dict[str, outbox.Handler] = {ENRICH: enrich}
