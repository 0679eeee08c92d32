"""What coding requests send out, delivered by the outbox worker: messages to requesters in Slack, and the
files a merged pull request changed, looked up on GitHub."""

from __future__ import annotations

import uuid
from typing import Any

import logs
from domain.coding_requests.rules import classify_files
from integrations.github import client as github
from integrations.slack import client as slack_api
from jobs import outbox

NOTIFY = "coding_request.notify"
PR_FILES = "github.pr_files"
NOTIFY_EVENT = "swarm_bridge_coding_request"
# Where a thread reply cannot go (the bot is not in that conversation): the requester gets a DM instead.
THREAD_UNREACHABLE = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})

FILL_FILES = """
UPDATE coding_requests SET files_to_create = $2, files_to_modify = $3,
    test_files = CASE WHEN cardinality(COALESCE(test_files, '{}')) = 0 THEN $4 ELSE test_files END
WHERE id = $1
  AND cardinality(COALESCE(files_to_create, '{}')) = 0 AND cardinality(COALESCE(files_to_modify, '{}')) = 0
RETURNING id
"""
HAS_NO_FILES = """
SELECT cardinality(COALESCE(files_to_create, '{}')) = 0 AND cardinality(COALESCE(files_to_modify, '{}')) = 0
FROM coding_requests WHERE id = $1
"""


async def deliver_notification(ctx: outbox.Context, payload: dict[str, Any]) -> dict[str, Any]:
    """Reply in the originating thread; a DM to the requester when there is none or the bot cannot post there."""
    if payload.get("channel"):
        try:
            return await _post(ctx, payload["channel"], payload["text"], payload.get("thread_ts"))
        except slack_api.SlackRefused as exc:
            if exc.error not in THREAD_UNREACHABLE:
                raise
            logs.event("coding_request.thread_unreachable", channel=payload["channel"], error=exc.error)
    opened = await slack_api.call(ctx, "conversations.open", users=payload["user"])
    return await _post(ctx, opened["channel"]["id"], payload["text"], None)


async def _post(ctx: outbox.Context, channel: str, text: str, thread_ts: str | None) -> dict[str, Any]:
    """Post once: a retry after an attempt that may have posted looks for it by the outbox row's id."""
    claim = outbox.current()
    posted, adopted = await slack_api.post_once(
        ctx, channel, NOTIFY_EVENT, {"outbox_id": str(claim.id if claim else "")}, thread_ts=thread_ts, text=text
    )
    return {"channel": posted.get("channel"), "ts": posted.get("ts"), "adopted": adopted}


async def fill_changed_files(ctx: outbox.Context, payload: dict[str, Any]) -> dict[str, Any]:
    """Record the files a merged pull request changed, when the request has none recorded."""
    request_id = uuid.UUID(payload["request_id"])
    if not await ctx.pool.fetchval(HAS_NO_FILES, request_id):
        return {"skipped": "files already recorded"}
    files = await github.pull_request_files(ctx, payload["repo"], int(payload["pr_number"]))
    create, modify, tests = classify_files(files)
    record = await ctx.pool.fetchrow(FILL_FILES, request_id, create, modify, tests)
    return {"filled": record is not None, "files": len(files)}


# The outbox kinds this module delivers (given to the wiring by the concept's setup).
OUTBOX: dict[str, outbox.Handler] = {
    NOTIFY: deliver_notification,
    PR_FILES: fill_changed_files,
}
