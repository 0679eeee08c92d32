"""Outbox handlers that tell Slack about incidents: the announcement in SLACK_INCIDENTS_CHANNEL (its
channel and ts stored on the incident), then every later change as a reply in that thread.

Both carry Slack message ``metadata`` (the incident id; the outbox row for a reply), so a retry after an
attempt that may have posted adopts that message instead of posting twice (``slack.post_once``)."""

from __future__ import annotations

import logging
from typing import Any

import logs
from domain.incidents import messages as incident_messages
from domain.incidents import store as incidents
from integrations.slack import client as slack
from jobs import outbox
from jobs.outbox import Context, RetryLater

PARENT_WAIT_S = 5.0
ORDER_WAIT_S = 1.0
ANNOUNCE_EVENT = "swarm_bridge_incident"
UPDATE_EVENT = "swarm_bridge_incident_update"
CLOCK_MARGIN_S = 600.0
# Thread replies go out in the order they were queued: an earlier pending reply for the incident goes first.
EARLIER_PENDING = """
SELECT EXISTS (
    SELECT 1 FROM outbox me JOIN outbox o ON o.kind = me.kind AND o.id < me.id
    WHERE me.dedupe_key = $1 AND o.status = 'pending' AND o.payload ->> 'incident_id' = $2
)
"""


async def announce(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    channel = ctx.config.slack_incidents_channel
    if not channel:
        logs.event("incident.slack_unconfigured", logging.WARNING, missing="SLACK_INCIDENTS_CHANNEL")
        raise RetryLater(600, "SLACK_INCIDENTS_CHANNEL is not set: incident announcements wait in the outbox")
    async with ctx.pool.acquire() as conn:
        incident = await incidents.get(conn, payload["incident_id"])
    if incident is None:
        return {"skipped": "incident no longer exists"}
    if incident.slack_thread_ts:
        return {"channel": incident.slack_channel_id, "ts": incident.slack_thread_ts, "existing": True}
    text, blocks = incident_messages.announcement(incident.row)
    answer, adopted = await slack.post_once(
        ctx,
        channel,
        ANNOUNCE_EVENT,
        {"incident_id": str(incident.id)},
        oldest=incident.created_at.timestamp() - CLOCK_MARGIN_S,
        text=text,
        blocks=blocks,
    )
    posted_channel, ts = answer.get("channel") or channel, answer["ts"]
    await incidents.set_slack_thread(ctx.pool, payload["incident_id"], posted_channel, ts)
    return {"channel": posted_channel, "ts": ts, "adopted": adopted}


async def thread_update(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    async with ctx.pool.acquire() as conn:
        incident = await incidents.get(conn, payload["incident_id"])
    if incident is None:
        return {"skipped": "incident no longer exists"}
    if not incident.slack_thread_ts or not incident.slack_channel_id:
        if not ctx.config.slack_incidents_channel:
            raise RetryLater(600, "SLACK_INCIDENTS_CHANNEL is not set: no incident thread to reply in yet")
        raise RetryLater(PARENT_WAIT_S, "the incident's announcement is not posted yet")
    dedupe_key = payload.get("dedupe_key") or f"{incidents.UPDATE}:{payload['incident_id']}:{payload.get('status')}"
    if await ctx.pool.fetchval(EARLIER_PENDING, dedupe_key, payload["incident_id"]):
        raise RetryLater(ORDER_WAIT_S, "an earlier reply in this incident's thread is not sent yet")
    row = {**incident.row, "status": payload.get("status") or incident.status}
    if payload.get("dedupe_key"):
        text = incident_messages.note(row, payload.get("note") or "")
    else:
        text = incident_messages.update(row, payload.get("note"))
    claim = outbox.current()
    answer, adopted = await slack.post_once(
        ctx,
        incident.slack_channel_id,
        UPDATE_EVENT,
        {"incident_id": str(incident.id), "outbox_id": str(claim.id if claim else "")},
        thread_ts=incident.slack_thread_ts,
        text=text,
    )
    return {"ts": answer.get("ts"), "adopted": adopted}


# The outbox kinds this module delivers (given to the wiring by the concept's setup).
OUTBOX: dict[str, outbox.Handler] = {
    incidents.ANNOUNCE: announce,
    incidents.UPDATE: thread_update,
}
