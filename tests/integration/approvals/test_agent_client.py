"""The way an agent uses approvals: integrations/agents/client.py against the real API, decided by a human's
signed Approve click in Slack; the waiting call returns the decision, the bus carries the continuation."""

from __future__ import annotations

import asyncio
from typing import Any

from domain.bus import events as bus
from integrations.agents.client import AgentClient
from tests.conftest import token

from .conftest import Harness


async def wait_for_pending(harness: Harness) -> str:
    async with asyncio.timeout(10):
        while True:
            approval_id = await harness.pool.fetchval("SELECT id::text FROM approval_requests WHERE status = 'pending'")
            if approval_id:
                return str(approval_id)
            await asyncio.sleep(0.02)


async def test_request_approval_returns_when_a_human_approves(harness: Harness) -> None:
    base_url = str(harness.client.make_url("/"))
    async with AgentClient(base_url, token("service_role"), agent_id="deploy-agent") as agent:
        waiting = asyncio.create_task(
            agent.request_approval(
                "restart_service",
                {"service": "api", "reason": "memory leak"},
                risk_level="medium",
                continuation_event_type="deploy.restart.approved",
                continuation_payload={"step": 3},
                timeout_s=30,
                poll_s=5,
            )
        )
        approval_id = await wait_for_pending(harness)
        await harness.deliver()
        (posted,) = harness.fake.called("chat.postMessage")
        assert posted.args["channel"]
        await harness.click("approval_approve", approval_id)
        decided: dict[str, Any] = await asyncio.wait_for(waiting, 20)

    assert decided["id"] == approval_id and decided["status"] == "approved"
    (event,) = await bus.read_after(harness.pool, 0, target="deploy-agent", event_type="deploy.restart.approved")
    assert str(event.correlation_id) == approval_id
    assert event.payload["step"] == 3 and event.payload["decision"] == "approved"
