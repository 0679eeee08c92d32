"""Socket Mode end to end: slack_bolt's AsyncSocketModeHandler against a fake Socket Mode server.

The app asks the fake Web API for a WebSocket URL (``apps.connections.open`` with the xapp- token),
connects, gets Slack's ``hello``, receives envelopes and acks each one by its ``envelope_id``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from domain.approvals.blocks import ActionId
from domain.bus import events as bus
from domain.coding_requests.blocks import COMMAND, HELP
from handlers.keys import CONFIG, WIRING
from jobs import outbox
from tests.conftest import FIXTURES
from tests.fakes.slack import FakeSlack, fake_slack
from tests.integration.approvals.conftest import CHANNEL, REQUEST, SERVICE, click_payload

JSON = {"Content-Type": "application/json"}
SLASH_COMMAND = dict(parse_qsl((FIXTURES / "slack" / "slash_command.form.txt").read_text().strip()))


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with fake_slack() as served:
        yield served


@pytest.fixture
async def client(app_factory: Callable[..., Any], fake: FakeSlack) -> AsyncIterator[TestClient[Any, Any]]:
    """The app in Socket Mode, closed before the fake goes (else the fake's shutdown waits on the socket)."""
    started: TestClient[Any, Any] = await app_factory(
        slack_app_token="xapp-test",
        slack_bot_token="xoxb-test",
        slack_api_url=fake.url,
        slack_approvals_channel=CHANNEL,
    )
    yield started
    await started.close()


def envelope(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """An envelope as Slack sends it over the socket (slash commands may be answered in the ack)."""
    return {
        "envelope_id": str(uuid.uuid4()),
        "type": kind,
        "payload": payload,
        "accepts_response_payload": kind == "slash_commands",
    }


async def test_an_approve_click_over_the_socket_is_acked_and_decides(
    client: TestClient[Any, Any], fake: FakeSlack, pool: asyncpg.Pool
) -> None:
    link = await fake.open_link()
    (opened,) = fake.called("apps.connections.open")
    assert opened.token == "xapp-test", "the WebSocket URL is asked for with the app-level token"
    assert len(fake.links) == 1

    response = await client.post("/api/v1/approvals", json=REQUEST, headers=SERVICE)
    assert response.status == 201, await response.text()
    approval_id = (await response.json())["id"]
    ctx = outbox.Context(pool=pool, config=client.app[CONFIG], handlers=client.app[WIRING].outbox)
    assert await outbox.deliver_due(ctx) == 1
    (post,) = fake.called("chat.postMessage")
    assert post.token == "xoxb-test" and post.args["channel"] == CHANNEL

    click = envelope("interactive", click_payload(ActionId.APPROVE, approval_id, user="U0APPROVER"))
    ack = await fake.push(click)
    assert ack == {"envelope_id": click["envelope_id"]}

    # The listener decides after its ack: wait on the API's long poll, which wakes on the decision.
    decided = await client.get(f"/api/v1/approvals/{approval_id}?wait=10", headers=SERVICE)
    assert decided.status == 200
    row = await pool.fetchrow("SELECT status, resolved_by FROM approval_requests WHERE id = $1", approval_id)
    assert row is not None and (row["status"], row["resolved_by"]) == ("approved", "U0APPROVER")

    (event,) = await bus.read_after(pool, 0, correlation_id=uuid.UUID(approval_id))
    assert event.event_type == REQUEST["continuation_event_type"] and event.target_agent_ids == ["deploy-agent"]
    assert event.payload["decision"] == "approved" and "decided_by" not in event.payload
    assert event.payload["incident_id"] == "inc-7" and event.payload["step"] == 3

    assert link in fake.links and not link.closed and len(fake.links) == 1, "one connection throughout"


async def test_a_slash_command_is_answered_in_its_ack(client: TestClient[Any, Any], fake: FakeSlack) -> None:
    command = envelope("slash_commands", {**SLASH_COMMAND, "command": COMMAND, "text": "help"})
    ack = await fake.push(command)
    assert ack["envelope_id"] == command["envelope_id"] and ack["payload"]["text"] == HELP


async def test_http_endpoint_is_404_and_shutdown_closes_the_socket(
    client: TestClient[Any, Any], fake: FakeSlack
) -> None:
    link = await fake.open_link()

    response = await client.post("/slack/events", data=b"{}", headers=JSON)
    assert response.status == 404
    assert "Socket Mode" in (await response.json())["error"]

    await client.close()
    await fake.wait_until(lambda: link.closed)
    assert len(fake.links) == 1, "closing does not reconnect"
    assert len(fake.called("apps.connections.open")) == 1


async def test_a_disconnect_message_makes_the_client_reconnect(
    client: TestClient[Any, Any], fake: FakeSlack, pool: asyncpg.Pool
) -> None:
    first = await fake.send({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "fake"}})
    await fake.wait_until(lambda: first.closed and len(fake.links) == 2)
    assert [c.token for c in fake.called("apps.connections.open")] == ["xapp-test", "xapp-test"]

    # A click on an unknown request: acked over the new connection, then explained through the outbox.
    explained = asyncio.get_running_loop().create_future()
    async with pool.acquire() as conn:

        def on_notify(_conn: object, _pid: int, _channel: str, kind: str) -> None:
            if kind == "slack.approval.ephemeral" and not explained.done():
                explained.set_result(kind)

        await conn.add_listener("outbox", on_notify)
        click = envelope("interactive", click_payload(ActionId.APPROVE, str(uuid.uuid4()), user="U0LATE"))
        assert await fake.push(click) == {"envelope_id": click["envelope_id"]}
        await asyncio.wait_for(explained, 10)
        await conn.remove_listener("outbox", on_notify)
    assert fake.links[1].acks == [{"envelope_id": click["envelope_id"]}], "acked over the new connection"
    note = await pool.fetchval("SELECT payload FROM outbox WHERE kind = 'slack.approval.ephemeral'")
    assert note["user"] == "U0LATE" and "no longer exists" in note["text"]


async def test_slack_refusing_the_connection_does_not_keep_the_app_from_serving(
    app_factory: Callable[..., Any], fake: FakeSlack
) -> None:
    fake.fail("apps.connections.open", "invalid_auth", times=100)
    async with asyncio.timeout(10):
        client = await app_factory(slack_app_token="xapp-revoked", slack_bot_token="xoxb-test", slack_api_url=fake.url)
    assert (await client.get("/healthz")).status == 200
    await fake.wait_for("apps.connections.open")
    async with asyncio.timeout(10):
        await client.close()
    assert fake.links == []
