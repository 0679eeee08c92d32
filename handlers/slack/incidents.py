"""Incidents from Slack: the announcement's Acknowledge / Mitigating / Resolve / Escalate buttons and
Assign-to-agent select, the resolve modal, and ``/incident`` with its modal.

Buttons ack first, then one transaction: the domain action (compare-and-set in SQL, the same transition
as the API), its audit row in ``agent_actions`` (the person's Slack id), and, when nothing changed, an
ephemeral note saying why. The only Slack call before that is ``views.open`` (its trigger id expires in
3 s). Modal submissions are stored first and then acked, so a refusal can be shown in the modal and an
acknowledged submission is never lost.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

import logs
from db.errors import UNAVAILABLE
from db.transactions import run_in_transaction
from domain.incidents import actions
from domain.incidents import messages as views
from domain.incidents import store as incidents
from domain.incidents.actions import Declaration, Outcome
from domain.incidents.rules import Transition, next_status
from domain.incidents.slack import EPHEMERAL
from domain.ledger import actions as audit_trail
from handlers.keys import POOL
from jobs import outbox

AUDIT_AGENT = "slack"
STORE_FAILED = "The database is unavailable just now: submit again in a minute."


def _channel_of(body: dict[str, Any]) -> str | None:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    return channel if isinstance(channel, str) and channel else None


def _uuid(raw: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


async def _record(
    conn: asyncpg.Connection, verb: str, person: str, channel: str | None, outcome: Outcome, **context: Any
) -> None:
    """The audit row of one person's action (refused ones too), and the note to them when it changed nothing."""
    incident = outcome.incident
    await audit_trail.record(
        conn,
        {
            "agent_name": AUDIT_AGENT,
            "action_type": f"incident.{verb}",
            "action_category": "incident_response",
            "incident_id": incident.id if incident else None,
            "input_context": {"slack_user": person, "via": "slack", **context},
            "output_result": {"status": incident.status, "severity": incident.severity} if incident else {},
            "success": outcome.changed,
            "error_message": outcome.why_not,
            "approved_by": person,
        },
    )
    if not outcome.changed and outcome.why_not:
        await outbox.enqueue(conn, EPHEMERAL, {"channel": channel, "user": person, "text": outcome.why_not})


Act = Callable[[asyncpg.Connection], Awaitable[Outcome]]


async def act(pool: asyncpg.Pool, verb: str, person: str, channel: str | None, fn: Act, **context: Any) -> Outcome:
    """Run one action and its audit row in a transaction (retried on deadlock: Slack was acked already)."""

    async def run(conn: asyncpg.Connection) -> Outcome:
        outcome = await fn(conn)
        await _record(conn, verb, person, channel, outcome, **context)
        return outcome

    outcome = await run_in_transaction(pool, run, name=f"incidents.{verb}")
    incident = outcome.incident
    logs.event(
        "slack.incidents.acted" if outcome.changed else "slack.incidents.unchanged",
        verb=verb,
        user=person,
        incident_id=str(incident.id) if incident else None,
        status=incident.status if incident else None,
    )
    return outcome


async def _gone(pool: asyncpg.Pool, person: str, channel: str | None) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await outbox.enqueue(conn, EPHEMERAL, {"channel": channel, "user": person, "text": "No such incident."})


def register(bolt: AsyncApp, app: web.Application) -> None:
    def move_listener(action_id: views.ActionId, move: Transition) -> None:
        @bolt.block_action(action_id.value)
        async def on_move(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
            await ack()
            pool, person, channel = app[POOL], body["user"]["id"], _channel_of(body)
            incident_id = _uuid(action.get("value"))
            if incident_id is None:
                await _gone(pool, person, channel)
                return

            async def fn(conn: asyncpg.Connection) -> Outcome:
                return await actions.transition(conn, incident_id, move, person=person, now=datetime.now(UTC))

            await act(pool, move.value, person, channel, fn)

    move_listener(views.ActionId.ACKNOWLEDGE, Transition.ACKNOWLEDGE)
    move_listener(views.ActionId.MITIGATE, Transition.MITIGATE)

    @bolt.block_action(views.ActionId.RESOLVE.value)
    async def on_resolve(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        pool, person, channel = app[POOL], body["user"]["id"], _channel_of(body)
        incident_id = _uuid(action.get("value"))
        incident = None
        if incident_id is not None:
            async with pool.acquire() as conn:
                incident = await incidents.get(conn, incident_id)
        if incident is None:
            await _gone(pool, person, channel)
            return
        if next_status(incident.status, Transition.RESOLVE) is None:
            unchanged = Outcome(incident, False, f"Incident #{incident.incident_number} is already {incident.status}.")
            await act(pool, "resolve", person, channel, lambda conn: _same(unchanged))
            return
        await client.views_open(trigger_id=body["trigger_id"], view=views.resolve_modal(incident.row, channel or ""))

    @bolt.view_submission(views.CallbackId.RESOLVE.value)
    async def on_resolution(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        parsed = views.parse_resolution(view.get("state") or {})
        if isinstance(parsed, dict):
            await ack(response_action="errors", errors=parsed)
            return
        steps, summary = parsed
        raw_id, channel = views.split_origin(str(view.get("private_metadata") or ""))
        incident_id, person = _uuid(raw_id), body["user"]["id"]
        if incident_id is None:
            await ack(response_action="errors", errors={views.Field.SUMMARY.value: "No such incident."})
            return

        async def fn(conn: asyncpg.Connection) -> Outcome:
            now = datetime.now(UTC)
            return await actions.transition(
                conn, incident_id, Transition.RESOLVE, person=person, now=now, steps=steps, summary=summary
            )

        try:
            outcome = await act(app[POOL], "resolve", person, channel, fn, steps=len(steps))
        except UNAVAILABLE as exc:
            logs.event("slack.incidents.store_failed", logging.ERROR, error=type(exc).__name__)
            await ack(response_action="errors", errors={views.Field.SUMMARY.value: STORE_FAILED})
            return
        if not outcome.changed:
            await ack(response_action="errors", errors={views.Field.SUMMARY.value: outcome.why_not or "Not resolved."})
            return
        await ack()

    @bolt.block_action(views.ActionId.ESCALATE.value)
    async def on_escalate(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        pool, person, channel = app[POOL], body["user"]["id"], _channel_of(body)
        raw_id, _, seen = str(action.get("value") or "").partition(":")
        incident_id = _uuid(raw_id)
        if incident_id is None:
            await _gone(pool, person, channel)
            return

        async def fn(conn: asyncpg.Connection) -> Outcome:
            return await actions.escalate(conn, incident_id, seen, person=person)

        await act(pool, "escalate", person, channel, fn, seen_severity=seen)

    @bolt.block_action(views.ActionId.ASSIGN.value)
    async def on_assign(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        pool, person, channel = app[POOL], body["user"]["id"], _channel_of(body)
        incident_id = _uuid(str(action.get("block_id") or "").removeprefix("incident:"))
        agent = str((action.get("selected_option") or {}).get("value") or "")
        if incident_id is None or not agent:
            await _gone(pool, person, channel)
            return

        async def fn(conn: asyncpg.Connection) -> Outcome:
            return await actions.assign(conn, incident_id, agent, person=person, now=datetime.now(UTC))

        await act(pool, "assign", person, channel, fn, agent=agent)

    @bolt.command(views.COMMAND)
    async def on_command(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        modal = views.declare_modal(str(command.get("text") or ""), str(command.get("channel_id") or ""))
        await client.views_open(trigger_id=command["trigger_id"], view=modal)

    @bolt.view_submission(views.CallbackId.DECLARE.value)
    async def on_declare(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        parsed = views.parse_declaration(view.get("state") or {})
        if isinstance(parsed, dict):
            await ack(response_action="errors", errors=parsed)
            return
        title, severity, service, description = parsed
        person = body["user"]["id"]
        declared = Declaration(title, severity, service, description, person, key=str(view.get("id") or uuid.uuid4()))

        async def fn(conn: asyncpg.Connection) -> Outcome:
            incident, created = await actions.declare(conn, declared, now=datetime.now(UTC))
            return Outcome(incident, created)  # a submission delivered twice declares once

        try:
            await act(app[POOL], "declare", person, None, fn, severity=severity)
        except UNAVAILABLE as exc:
            logs.event("slack.incidents.store_failed", logging.ERROR, error=type(exc).__name__)
            await ack(response_action="errors", errors={views.Field.TITLE.value: STORE_FAILED})
            return
        await ack()


async def _same(outcome: Outcome) -> Outcome:
    return outcome
