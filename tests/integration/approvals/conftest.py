"""Approvals end to end: the real app, a real PostgreSQL, the fake Slack Web API, signed interactions."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from domain.approvals.blocks import REASON_BLOCK, REASON_INPUT, CallbackId
from handlers.keys import CONFIG, WIRING
from jobs import outbox
from tests.conftest import FIXTURES, bearer
from tests.fakes.slack import FakeSlack, fake_slack, interaction_body, signed_headers

SECRET = "slack-signing-secret-for-approvals"
CHANNEL = "C0APPROVALS"
CLICK = json.loads((FIXTURES / "slack" / "block_actions.message_container.bolt-python.json").read_text())
SUBMISSION = json.loads((FIXTURES / "slack" / "view_submission.json").read_text())
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SERVICE = bearer("service_role", expires_in=3600)

REQUEST: dict[str, Any] = {
    "agent_name": "deploy-agent",
    "action_type": "rollback_deployment",
    "action_details": {"service": "checkout", "from": "v42", "to": "v41", "reason": "error rate 12% > 2%"},
    "risk_level": "medium",
    "continuation_event_type": "deploy.rollback.decided",
    "continuation_payload": {"incident_id": "inc-7", "step": 3},
}


def click_payload(
    action_id: str, value: str, *, user: str = "W111", channel: str = CHANNEL, message_ts: str = "111.222"
) -> dict[str, Any]:
    """The recorded bolt-python block_actions payload, aimed at one of our buttons."""
    payload = copy.deepcopy(CLICK)
    payload["user"]["id"] = user
    payload["channel"]["id"] = channel
    payload["container"].update(channel_id=channel, message_ts=message_ts, is_ephemeral=False)
    payload["actions"][0].update(action_id=action_id, value=value, block_id=f"approval:{value}")
    return payload


def submission_payload(approval_id: str, reason: str, *, user: str = "W111") -> dict[str, Any]:
    """The recorded bolt-python view_submission payload, as our reject-reason modal."""
    payload = copy.deepcopy(SUBMISSION)
    payload["user"]["id"] = user
    view = payload["view"]
    view.update(callback_id=CallbackId.REJECT_REASON.value, private_metadata=approval_id)
    view["state"] = {"values": {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": reason}}}}
    return payload


@dataclass
class Harness:
    client: TestClient[Any, Any]
    fake: FakeSlack
    pool: asyncpg.Pool
    ctx: outbox.Context

    async def create(self, **overrides: Any) -> dict[str, Any]:
        response = await self.client.post("/api/v1/approvals", json={**REQUEST, **overrides}, headers=SERVICE)
        assert response.status == 201, await response.text()
        created: dict[str, Any] = await response.json()
        return created

    async def deliver(self) -> int:
        """Run the outbox until nothing is due (the worker's job; tests drive it)."""
        total = 0
        while n := await outbox.deliver_due(self.ctx):
            total += n
        return total

    async def interact(self, payload: dict[str, Any], *, timestamp: int | None = None, secret: str = SECRET) -> Any:
        body = interaction_body(payload)
        return await self.client.post(
            "/slack/events", data=body, headers={**FORM, **signed_headers(body, secret, timestamp)}
        )

    async def click(self, action_id: str, approval_id: str, **kwargs: Any) -> Any:
        response = await self.interact(click_payload(action_id, approval_id, **kwargs))
        assert response.status == 200, await response.text()
        return response

    async def get(self, approval_id: str, wait: float | None = None) -> dict[str, Any]:
        query = f"?wait={wait}" if wait is not None else ""
        response = await self.client.get(f"/api/v1/approvals/{approval_id}{query}", headers=SERVICE)
        assert response.status == 200, await response.text()
        found: dict[str, Any] = await response.json()
        return found

    async def ephemerals_queued(self, count: int = 1) -> list[dict[str, Any]]:
        async def found() -> list[dict[str, Any]]:
            rows = await self.pool.fetch(
                "SELECT payload FROM outbox WHERE kind = 'slack.approval.ephemeral' ORDER BY id"
            )
            return [r["payload"] for r in rows]

        return await eventually(found, lambda rows: len(rows) >= count)


async def eventually(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], within_s: float = 10) -> Any:
    """Re-read until ``done`` (a listener finishes after its ack); fails at the deadline."""
    deadline = time.monotonic() + within_s
    while True:
        value = await read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"condition not met within {within_s}s: {value!r}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def harness(app_factory: Callable[..., Any], pool: asyncpg.Pool) -> AsyncIterator[Harness]:
    async with fake_slack() as fake:
        client = await app_factory(
            slack_signing_secret=SECRET,
            slack_bot_token="xoxb-approvals-test",
            slack_api_url=fake.url,
            slack_approvals_channel=CHANNEL,
        )
        ctx = outbox.Context(pool=pool, config=client.app[CONFIG], handlers=client.app[WIRING].outbox)
        yield Harness(client, fake, pool, ctx)
