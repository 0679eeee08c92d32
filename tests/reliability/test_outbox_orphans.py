"""Defect 4: a post whose outcome is unknown (the connection dropped after Slack posted, or the worker died
mid-call) is reconciled before it is retried: the message is found by its metadata and adopted, never
posted twice, and its ts is recorded so later updates and replies reach it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from db.listen import Hub, running
from domain.approvals.slack import REQUEST_EVENT
from handlers.keys import CONFIG, WIRING
from jobs import outbox
from tests.conftest import bearer
from tests.fakes.slack import FakeSlack, fake_slack

CHANNEL = "C0ORPHANS"
SERVICE = bearer("service_role", expires_in=3600)
REQUEST = {
    "agent_name": "deploy-agent",
    "action_type": "rollback_deployment",
    "action_details": {"service": "checkout"},
    "risk_level": "medium",
}


@dataclass
class Setup:
    client: TestClient[Any, Any]
    fake: FakeSlack
    pool: asyncpg.Pool
    ctx: outbox.Context

    async def create(self) -> str:
        response = await self.client.post("/api/v1/approvals", json=REQUEST, headers=SERVICE)
        assert response.status == 201, await response.text()
        approval_id: str = (await response.json())["id"]
        return approval_id

    async def recorded_ts(self, approval_id: str) -> str | None:
        ts: str | None = await self.pool.fetchval(
            "SELECT slack_message_ts FROM approval_requests WHERE id = $1::uuid", approval_id
        )
        return ts

    async def deliver_all_now(self) -> None:
        await self.pool.execute("UPDATE outbox SET next_attempt_at = now() WHERE status = 'pending'")
        while await outbox.deliver_due(self.ctx):
            pass


@pytest.fixture
async def setup(app_factory: Callable[..., Any], pool: asyncpg.Pool) -> AsyncIterator[Setup]:
    async with fake_slack() as fake:
        client = await app_factory(
            slack_bot_token="xoxb-orphans", slack_api_url=fake.url, slack_approvals_channel=CHANNEL
        )
        ctx = outbox.Context(pool=pool, config=client.app[CONFIG], handlers=client.app[WIRING].outbox)
        yield Setup(client, fake, pool, ctx)


def _for(fake: FakeSlack, approval_id: str) -> list[Any]:
    return [
        m
        for m in fake.posted(CHANNEL)
        if m.metadata == {"event_type": REQUEST_EVENT, "event_payload": {"approval_id": approval_id}}
    ]


async def test_a_post_whose_answer_was_lost_is_adopted_not_doubled(setup: Setup) -> None:
    setup.fake.drop_after_posting("chat.postMessage")
    approval_id = await setup.create()
    await outbox.deliver_due(setup.ctx)
    assert len(_for(setup.fake, approval_id)) == 1, "Slack posted it"
    assert await setup.recorded_ts(approval_id) is None, "but the answer never arrived"
    row = await setup.pool.fetchrow("SELECT status, attempts FROM outbox")
    assert (row["status"], row["attempts"]) == ("pending", 1)

    await setup.deliver_all_now()
    (message,) = _for(setup.fake, approval_id)
    assert len(setup.fake.posted(CHANNEL)) == 1, "exactly one message"
    assert await setup.recorded_ts(approval_id) == message.ts
    assert message.edits == [], "still the request as posted, its buttons live"
    result = await setup.pool.fetchval("SELECT result FROM outbox WHERE kind = 'slack.approval.post'")
    assert result["adopted"] is True and result["ts"] == message.ts

    cancelled = await setup.client.post(f"/api/v1/approvals/{approval_id}/cancel", headers=SERVICE)
    assert cancelled.status == 200, await cancelled.text()
    await setup.deliver_all_now()
    assert len(message.edits) == 1 and "Withdrawn" in str(message.blocks), "the decision reached the orphan"
    replies = [m for m in setup.fake.posted(CHANNEL) if m.thread_ts == message.ts]
    assert len(replies) == 1


async def test_a_worker_killed_mid_post_leaves_no_second_message(setup: Setup, database_url: str) -> None:
    """The first worker dies while Slack is still answering (SIGKILL, as in the probe that doubled 16 of
    20 approvals); the post lands anyway. After the lease runs out the real worker takes the row over."""
    setup.fake.stall("chat.postMessage", 1.0)
    approval_id = await setup.create()
    doomed = asyncio.create_task(outbox.deliver_due(setup.ctx))
    await setup.fake.wait_for("chat.postMessage")
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    async with asyncio.timeout(10):
        while not _for(setup.fake, approval_id):
            await asyncio.sleep(0.02)
    assert await setup.recorded_ts(approval_id) is None
    await setup.pool.execute("UPDATE outbox SET locked_until = now() - interval '1 second'")  # lease expired

    async with running(Hub([outbox.CHANNEL]), database_url) as hub:
        async with asyncio.timeout(5):
            await hub.listening.wait()
        worker = asyncio.create_task(outbox.run_worker(setup.ctx, hub.subscribe(outbox.CHANNEL), poll_s=0.2))
        try:
            async with asyncio.timeout(10):
                while await setup.recorded_ts(approval_id) is None:
                    await asyncio.sleep(0.05)
        finally:
            worker.cancel()
            with pytest.raises(asyncio.CancelledError):
                await worker
    (message,) = _for(setup.fake, approval_id)
    assert len(setup.fake.posted(CHANNEL)) == 1
    assert await setup.recorded_ts(approval_id) == message.ts
    assert setup.fake.called("conversations.history"), "looked before posting again"


async def test_a_first_attempt_posts_without_looking(setup: Setup) -> None:
    """Reconciliation costs a history call only after an unknown outcome, not on every post."""
    approval_id = await setup.create()
    await outbox.deliver_due(setup.ctx)
    assert len(_for(setup.fake, approval_id)) == 1
    assert not setup.fake.called("conversations.history")


async def test_an_incident_announcement_whose_answer_was_lost_is_adopted(
    app_factory: Callable[..., Any], pool: asyncpg.Pool
) -> None:
    async with fake_slack() as fake:
        client = await app_factory(
            slack_bot_token="xoxb-orphans", slack_api_url=fake.url, slack_incidents_channel="C0INC"
        )
        ctx = outbox.Context(pool=pool, config=client.app[CONFIG], handlers=client.app[WIRING].outbox)
        incident_id = await pool.fetchval(
            "INSERT INTO infrastructure_incidents (severity, incident_type, source, title)"
            " VALUES ('high', 'error', 'sentry', 'checkout 500s') RETURNING id"
        )
        async with pool.acquire() as conn:
            await outbox.enqueue(conn, "incident.announce", {"incident_id": str(incident_id)})
        fake.drop_after_posting("chat.postMessage")
        await outbox.deliver_due(ctx)
        await pool.execute("UPDATE outbox SET next_attempt_at = now()")
        await outbox.deliver_due(ctx)
        (message,) = fake.posted("C0INC")
        assert message.metadata == {
            "event_type": "swarm_bridge_incident",
            "event_payload": {"incident_id": str(incident_id)},
        }
        recorded = await pool.fetchval(
            "SELECT slack_thread_ts FROM infrastructure_incidents WHERE id = $1", incident_id
        )
        assert recorded == message.ts
