"""Every runbook step in ``agent_actions``, and what the incident's Slack thread is told (via the outbox)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from domain.bus import events as bus
from domain.ledger import actions
from integrations.slack import client as slack
from jobs import outbox
from jobs.outbox import Context, RetryLater

THREAD = "runbooks.thread"
CATEGORY = "runbook"
PARENT_WAIT_S = 5.0
INCIDENT_THREAD = "SELECT slack_channel_id, slack_thread_ts FROM infrastructure_incidents WHERE id = $1"


async def record(
    conn: asyncpg.Connection,
    action_type: str,
    *,
    incident_id: uuid.UUID | None,
    context: dict[str, Any],
    result: dict[str, Any],
    success: bool = True,
) -> None:
    await actions.record(
        conn,
        {
            "agent_name": bus.SERVICE_AGENT_ID,
            "action_type": action_type,
            "action_category": CATEGORY,
            "incident_id": incident_id,
            "input_context": context,
            "output_result": result,
            "success": success,
        },
    )


async def tell_thread(conn: asyncpg.Connection, incident_id: uuid.UUID, what: str, text: str) -> None:
    """Queue ``text`` as a reply in the incident's Slack thread (once per incident and ``what``)."""
    await outbox.enqueue(
        conn, THREAD, {"incident_id": str(incident_id), "text": text}, dedupe_key=f"{THREAD}:{incident_id}:{what}"
    )


async def post_in_thread(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    row = await ctx.pool.fetchrow(INCIDENT_THREAD, uuid.UUID(payload["incident_id"]))
    if row is None:
        return {"skipped": "incident no longer exists"}
    if not row["slack_thread_ts"] or not row["slack_channel_id"]:
        if not ctx.config.slack_incidents_channel:
            raise RetryLater(600, "SLACK_INCIDENTS_CHANNEL is not set: no incident thread to reply in yet")
        raise RetryLater(PARENT_WAIT_S, "the incident's announcement is not posted yet")
    answer = await slack.call(
        ctx, "chat.postMessage", channel=row["slack_channel_id"], thread_ts=row["slack_thread_ts"], text=payload["text"]
    )
    return {"ts": answer.get("ts")}


OUTBOX: dict[str, outbox.Handler] = {THREAD: post_in_thread}
