"""Outbox handlers that tell Slack about incidents: the announcement in SLACK_INCIDENTS_CHANNEL (its
channel and ts stored on the incident), kept true by editing it in place (``incident.refresh``), and every
later change as a reply in that thread.

Posts carry Slack message ``metadata`` (the incident id; the outbox row for a reply), so a retry after an
attempt that may have posted adopts that message instead of posting twice (``slack.post_once``).

Replies and edits of one incident are coalesced (``gather``): the row being delivered takes every pending
row of its kind for the incident that has not started posting, marks them ``coalesced_into`` itself and
keeps their payloads in its own, then "seals" itself, all under the incident's lock, before it calls
Slack. A burst of ten changes is one reply. A sealed row is never taken by another (it may have posted);
while one is pending the others wait, so replies keep their order and a retry posts exactly what the
first attempt may have posted, which ``post_once`` then adopts.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import logs
from db import locks
from domain.bus import events as bus
from domain.incidents import actions
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
EPHEMERAL = "incident.ephemeral"
MINE = "SELECT payload FROM outbox WHERE id = $1 AND lease = $2 AND status = 'pending'"
OTHER_SEALED = """
SELECT EXISTS (
    SELECT 1 FROM outbox WHERE kind = $1 AND status = 'pending' AND id <> $2 AND payload ->> 'incident_id' = $3
      AND payload ? 'sealed' AND NOT payload ? 'coalesced_into'
)
"""
# Take the incident's pending rows of this kind that have not started posting; seal this one with them.
ABSORB = """
WITH taken AS (
    UPDATE outbox SET payload = payload || jsonb_build_object('coalesced_into', $2::bigint), next_attempt_at = now()
    WHERE kind = $1 AND status = 'pending' AND id <> $2 AND payload ->> 'incident_id' = $3
      AND NOT payload ? 'sealed' AND NOT payload ? 'coalesced_into'
    RETURNING id, payload
)
UPDATE outbox SET payload = outbox.payload || jsonb_build_object(
    'sealed', true,
    'absorbed', COALESCE((SELECT jsonb_agg(t.payload || jsonb_build_object('outbox_id', t.id) ORDER BY t.id)
                          FROM taken t), '[]'::jsonb))
WHERE id = $2 AND lease = $4 AND status = 'pending'
RETURNING payload
"""

# The announcement's thread on its incident, with the outbox row's done (``outbox.Done.settle``).
RECORD_THREAD = f"""
WITH {outbox.SETTLED}, recorded AS (
    UPDATE infrastructure_incidents SET slack_channel_id = $5, slack_thread_ts = $6
    WHERE id = $4 AND slack_thread_ts IS NULL AND EXISTS (SELECT 1 FROM settled)
)
SELECT id FROM settled
"""
# The incident and the agents its announcement offers, in one round trip.
WITH_AGENTS = f"""
SELECT i.*, ARRAY({actions.KNOWN_AGENTS.strip()}) AS announce_agents__
FROM infrastructure_incidents i WHERE i.id = $4
"""


async def _with_agents(ctx: Context, incident_id: str) -> tuple[incidents.Incident | None, list[str]]:
    """The incident (None when it is gone) and the agents the bus knows (``actions.known_agents``)."""
    record = await ctx.pool.fetchrow(
        WITH_AGENTS, actions.AGENT_WINDOW, bus.SERVICE_AGENT_ID, actions.MAX_AGENTS, uuid.UUID(incident_id)
    )
    if record is None:
        return None, []
    incident = incidents.Incident.of(record)
    agents: list[str] = incident.row.pop("announce_agents__")
    return incident, agents


async def announce(ctx: Context, payload: dict[str, Any]) -> dict[str, Any] | outbox.Done:
    channel = ctx.config.slack_incidents_channel
    if not channel:
        logs.event("incident.slack_unconfigured", logging.WARNING, missing="SLACK_INCIDENTS_CHANNEL")
        raise RetryLater(600, "SLACK_INCIDENTS_CHANNEL is not set: incident announcements wait in the outbox")
    incident, agents = await _with_agents(ctx, str(payload["incident_id"]))
    if incident is None:
        return {"skipped": "incident no longer exists"}
    if incident.slack_thread_ts:
        return {"channel": incident.slack_channel_id, "ts": incident.slack_thread_ts, "existing": True}
    text, blocks = incident_messages.announcement(incident.row, now=datetime.now(UTC), agents=agents)
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
    recorded = (RECORD_THREAD, (incident.id, posted_channel, ts))
    return outbox.Done({"channel": posted_channel, "ts": ts, "adopted": adopted}, settle=recorded)


async def _posted(ctx: Context, payload: dict[str, Any]) -> incidents.Incident | None:
    """The incident once its announcement is posted (RetryLater until then); None when it is gone."""
    async with ctx.pool.acquire() as conn:
        incident = await incidents.get(conn, payload["incident_id"])
    if incident is None:
        return None
    if not incident.slack_thread_ts or not incident.slack_channel_id:
        if not ctx.config.slack_incidents_channel:
            raise RetryLater(600, "SLACK_INCIDENTS_CHANNEL is not set: no incident thread to reply in yet")
        raise RetryLater(PARENT_WAIT_S, "the incident's announcement is not posted yet")
    return incident


async def gather(ctx: Context, kind: str, payload: dict[str, Any]) -> list[dict[str, Any]] | None:
    """This row's items and those of every pending row it took (oldest first); None when another row took
    this one (or its claim was lost). See the module's docstring."""
    claim = outbox.current()
    if claim is None:
        return [payload]
    if payload.get("coalesced_into"):
        return None
    incident_id = str(payload["incident_id"])
    async with ctx.pool.acquire() as conn, conn.transaction():
        await locks.xact_lock(conn, locks.incident("slack", f"{kind}:{incident_id}"))
        mine = await conn.fetchval(MINE, claim.id, claim.lease)
        if mine is None or mine.get("coalesced_into"):
            return None
        if not mine.get("sealed"):
            if await conn.fetchval(OTHER_SEALED, kind, claim.id, incident_id):
                raise RetryLater(ORDER_WAIT_S, "an earlier post for this incident is on its way")
            mine = await conn.fetchval(ABSORB, kind, claim.id, incident_id, claim.lease)
            if mine is None:
                return None
    items = [*mine.get("absorbed", []), {**mine, "outbox_id": claim.id}]
    return sorted(items, key=lambda item: int(item["outbox_id"]))


async def thread_update(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    incident = await _posted(ctx, payload)
    if incident is None:
        return {"skipped": "incident no longer exists"}
    items = await gather(ctx, incidents.UPDATE, payload)
    if items is None:
        return {"coalesced_into": payload.get("coalesced_into")}
    claim = outbox.current()
    answer, adopted = await slack.post_once(
        ctx,
        str(incident.slack_channel_id),
        UPDATE_EVENT,
        {"incident_id": str(incident.id), "outbox_id": str(claim.id if claim else "")},
        thread_ts=incident.slack_thread_ts,
        text=incident_messages.reply(incident.row, items),
    )
    return {"ts": answer.get("ts"), "adopted": adopted, "items": len(items)}


async def refresh(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """Edit the announcement to show the incident as it is now (pending edits coalesced into one)."""
    if await _posted(ctx, payload) is None:
        return {"skipped": "incident no longer exists"}
    items = await gather(ctx, incidents.REFRESH, payload)
    if items is None:
        return {"coalesced_into": payload.get("coalesced_into")}
    incident, agents = await _with_agents(ctx, str(payload["incident_id"]))  # read after gathering: the newest
    if incident is None:
        return {"skipped": "incident no longer exists"}
    text, blocks = incident_messages.announcement(incident.row, now=datetime.now(UTC), agents=agents)
    await slack.call(
        ctx, "chat.update", channel=incident.slack_channel_id, ts=incident.slack_thread_ts, text=text, blocks=blocks
    )
    return {"ts": incident.slack_thread_ts, "status": incident.status, "items": len(items)}


async def ephemeral(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """Why a click changed nothing, to the clicker only (a DM when it came from outside a channel)."""
    if payload.get("channel"):
        await slack.call(
            ctx, "chat.postEphemeral", channel=payload["channel"], user=payload["user"], text=payload["text"]
        )
        return {"ephemeral": True}
    await slack.call(ctx, "chat.postMessage", channel=payload["user"], text=payload["text"])
    return {"direct_message": True}


# The outbox kinds this module delivers (given to the wiring by the concept's setup).
OUTBOX: dict[str, outbox.Handler] = {
    incidents.ANNOUNCE: announce,
    incidents.UPDATE: thread_update,
    incidents.REFRESH: refresh,
    EPHEMERAL: ephemeral,
}
