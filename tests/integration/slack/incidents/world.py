"""The world for incidents from Slack: the real app (signed Sentry webhooks, signed Slack interactions), a
real PostgreSQL, fake Slack and Linear; clicks and submissions are the recorded bolt-python payloads aimed
at our buttons and modals, signed as Slack signs them."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import asyncpg
from aiohttp import ClientResponse

from domain.incidents.messages import VALUE, ActionId
from tests.conftest import FIXTURES
from tests.fakes.slack import Message, interaction_body, signed_headers
from tests.integration.webhooks.conftest import INCIDENTS_CHANNEL, World, fixture_bytes, sentry_variant

SECRET = "slack-signing-secret-for-incidents"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CLICK = json.loads((FIXTURES / "slack" / "block_actions.message_container.bolt-python.json").read_text())
SUBMISSION = json.loads((FIXTURES / "slack" / "view_submission.json").read_text())
SLASH = dict(parse_qsl((FIXTURES / "slack" / "slash_command.form.txt").read_text(), keep_blank_values=True))
RESOLVED_ISSUE = "1638821441"  # the Sentry issue of the recorded issue.resolved delivery
BUTTONS = {ActionId.ACKNOWLEDGE, ActionId.MITIGATE, ActionId.RESOLVE, ActionId.ESCALATE}


def click_payload(
    action_id: str, value: str | None, *, user: str, block_id: str = "b", selected: str | None = None
) -> dict[str, Any]:
    payload = copy.deepcopy(CLICK)
    payload["user"]["id"] = user
    payload["channel"]["id"] = INCIDENTS_CHANNEL
    payload["container"].update(channel_id=INCIDENTS_CHANNEL, message_ts="111.222", is_ephemeral=False)
    action = payload["actions"][0]
    action.update(action_id=action_id, block_id=block_id)
    if selected is not None:
        action.pop("value", None)
        action.pop("text", None)
        action.update(
            type="static_select", selected_option={"text": {"type": "plain_text", "text": selected}, "value": selected}
        )
    else:
        action["value"] = value
    return payload


def submission_payload(view: dict[str, Any], user: str, view_id: str = "V111", **typed: str) -> dict[str, Any]:
    """The recorded view_submission, carrying a modal we opened with ``typed`` values in its inputs."""
    payload = copy.deepcopy(SUBMISSION)
    payload["user"]["id"] = user
    state: dict[str, Any] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element, value = block["element"], typed.get(block["block_id"])
        if element["type"] == "static_select":
            chosen = (
                {"text": {"type": "plain_text", "text": value}, "value": value}
                if value
                else element.get("initial_option")
            )
            state[block["block_id"]] = {VALUE: {"type": "static_select", "selected_option": chosen}}
        else:
            state[block["block_id"]] = {VALUE: {"type": "plain_text_input", "value": value}}
    payload["view"].update(
        id=view_id,
        callback_id=view["callback_id"],
        private_metadata=view["private_metadata"],
        blocks=view["blocks"],
        state={"values": state},
    )
    return payload


@dataclass
class Incidents:
    world: World

    @property
    def pool(self) -> asyncpg.Pool:
        return self.world.pool

    async def signed(self, body: bytes) -> ClientResponse:
        return await self.world.client.post(
            "/slack/events", data=body, headers={**FORM, **signed_headers(body, SECRET)}
        )

    async def interact(self, payload: dict[str, Any]) -> ClientResponse:
        response = await self.signed(interaction_body(payload))
        assert response.status == 200, await response.text()
        return response

    async def click(self, action_id: str, value: str | None, user: str, **kwargs: Any) -> ClientResponse:
        return await self.interact(click_payload(action_id, value, user=user, **kwargs))

    async def slash(self, text: str) -> ClientResponse:
        body = urlencode({**SLASH, "command": "/incident", "text": text}).encode()
        response = await self.signed(body)
        assert response.status == 200, await response.text()
        return response

    async def open_sentry(self) -> dict[str, Any]:
        """The recorded issue.resolved issue, delivered first as ``created``, announced in the channel."""
        response = await self.world.send.sentry(sentry_variant("issue.resolved", "created"), "issue")
        assert response.status == 200, await response.text()
        await self.world.drain()
        return await self.row()

    async def resolve_in_sentry(self) -> ClientResponse:
        return await self.world.send.sentry(fixture_bytes("sentry", "issue.resolved"), "issue")

    async def row(self) -> dict[str, Any]:
        found = await self.pool.fetchrow("SELECT * FROM infrastructure_incidents ORDER BY created_at DESC LIMIT 1")
        assert found is not None
        return dict(found)

    async def audit(self) -> list[dict[str, Any]]:
        rows = await self.pool.fetch("SELECT * FROM agent_actions WHERE agent_name = 'slack' ORDER BY created_at")
        return [dict(r) for r in rows]

    def announcement(self, incident: dict[str, Any]) -> Message:
        [found] = [m for m in self.world.slack.posted(INCIDENTS_CHANNEL) if m.ts == incident["slack_thread_ts"]]
        return found

    def replies(self, incident: dict[str, Any]) -> list[Message]:
        return [m for m in self.world.slack.posted(INCIDENTS_CHANNEL) if m.thread_ts == incident["slack_thread_ts"]]


def elements(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The interactive elements of a message by action id."""
    return {e["action_id"]: e for b in blocks if b["type"] == "actions" for e in b["elements"]}


async def eventually(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], within_s: float = 15) -> Any:
    """Re-read until ``done`` (a listener finishes after its ack); fails at the deadline."""
    deadline = time.monotonic() + within_s
    while True:
        value = await read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"condition not met within {within_s}s: {value!r}"
        await asyncio.sleep(0.02)
