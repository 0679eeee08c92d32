"""Slack answers 429, then 500s, then times out (the fake still posts after the client gave up), while
approvals are requested and withdrawn, with the real outbox worker woken by the real LISTEN hub. A minute
of outage is compressed to a few seconds (Retry-After 1 s, a 1 s client timeout).

After the fault: every approval has exactly one message, its ts recorded; every withdrawn one has
that message updated and exactly one reply in its thread, after the parent. The report line gives
the counts lost and doubled (0 and 0) and the recovery time after the fault ended.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

import logs
from db.listen import Hub, running
from domain.approvals.slack import REPLY_EVENT, REQUEST_EVENT
from handlers.keys import CONFIG, WIRING
from integrations.slack import client as slack
from jobs import outbox
from tests.conftest import bearer
from tests.fakes.slack import FakeSlack, Message, Phase, fake_slack

CHANNEL = "C0OUTAGE"
SERVICE = bearer("service_role", expires_in=3600)
APPROVALS = 12
SPACING_S = 0.3
WITHDRAW_AFTER_S = 1.0
WRITES = frozenset({"chat.postMessage", "chat.update"})
OUTBOX_METHODS = {*WRITES, "conversations.history", "conversations.replies"}
# Writes time out but still take effect 1.5 s later (the orphans); reads keep answering, so a retry can
# look for what its timed-out attempt posted.
PHASES = [Phase("429", 3.0, retry_after=1), Phase("5xx", 3.0), Phase("timeout", 6.0, stall_s=1.5, only=WRITES)]
RECOVERY_DEADLINE_S = 90  # the worst backoff after the fault is ~2^4 s with jitter; roomy for a loaded machine


def _tagged(fake: FakeSlack, event_type: str, approval_id: str) -> list[Message]:
    wanted = {"event_type": event_type, "event_payload": {"approval_id": approval_id}}
    return [m for m in fake.posted(CHANNEL) if m.metadata == wanted]


async def _settled(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval("SELECT count(*) = 0 FROM outbox WHERE status = 'pending'"))


async def test_every_post_and_update_arrives_once_through_a_slack_outage(
    app_factory: Callable[..., Any], pool: asyncpg.Pool, database_url: str
) -> None:
    async with fake_slack() as fake:
        client = await app_factory(
            slack_bot_token="xoxb-outage", slack_api_url=fake.url, slack_approvals_channel=CHANNEL
        )
        config = client.app[CONFIG]
        ctx = outbox.Context(pool=pool, config=config, handlers=client.app[WIRING].outbox)
        ctx.clients["slack"] = slack.outbox_client(config, timeout_s=1)
        loop = asyncio.get_running_loop()

        async def request(n: int) -> str:
            body = {
                "agent_name": f"agent-{n}",
                "action_type": "restart",
                "action_details": {"n": n},
                "risk_level": "low",
            }
            response = await client.post("/api/v1/approvals", json=body, headers=SERVICE)
            assert response.status == 201, await response.text()
            approval_id: str = (await response.json())["id"]
            if n % 2 == 0:
                await asyncio.sleep(WITHDRAW_AFTER_S)
                withdrawn = await client.post(f"/api/v1/approvals/{approval_id}/cancel", headers=SERVICE)
                assert withdrawn.status == 200, await withdrawn.text()
            return approval_id

        async with running(Hub([outbox.CHANNEL]), database_url) as hub:
            async with asyncio.timeout(10):
                await hub.listening.wait()
            worker = asyncio.create_task(outbox.run_worker(ctx, hub.subscribe(outbox.CHANNEL), poll_s=0.2))
            try:
                fault_ends = fake.outage(PHASES, OUTBOX_METHODS)
                tasks = []
                for n in range(APPROVALS):
                    tasks.append(asyncio.create_task(request(n)))
                    await asyncio.sleep(SPACING_S)
                ids = await asyncio.gather(*tasks)
                assert loop.time() < fault_ends, "every request and withdrawal happened during the fault"
                await asyncio.sleep(max(0.0, fault_ends - loop.time()))
                async with asyncio.timeout(RECOVERY_DEADLINE_S):
                    while not await _settled(pool):
                        await asyncio.sleep(0.05)
                recovery_s = loop.time() - fault_ends
            finally:
                worker.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await worker

    posts = {i: _tagged(fake, REQUEST_EVENT, i) for i in ids}
    replies = {i: _tagged(fake, REPLY_EVENT, i) for i in ids}
    lost = sum(1 for found in posts.values() if not found)
    doubled = sum(len(found) - 1 for found in posts.values() if found)
    withdrawn = ids[::2]
    lost_replies = sum(1 for i in withdrawn if not replies[i])
    doubled_replies = sum(max(0, len(replies[i]) - 1) for i in ids)
    calls = sum(1 for c in fake.calls if c.method in OUTBOX_METHODS)  # every call the outbox made
    adopted = await pool.fetchval("SELECT count(*) FROM outbox WHERE (result ->> 'adopted')::boolean")
    logs.event(
        "test.outbox_outage",
        approvals=len(ids),
        lost=lost,
        doubled=doubled,
        lost_replies=lost_replies,
        doubled_replies=doubled_replies,
        recovery_s=round(recovery_s, 2),
        slack_calls=calls,
        orphans_adopted=adopted,
    )
    print(
        f"\noutbox outage: {len(ids)} approvals, lost={lost} doubled={doubled} lost_replies={lost_replies} "
        f"doubled_replies={doubled_replies} recovery_s={recovery_s:.2f} slack_calls={calls} orphans_adopted={adopted}"
    )
    assert (lost, doubled, lost_replies, doubled_replies) == (0, 0, 0, 0)
    assert adopted > 0, "the timeouts left orphans, and they were adopted"
    assert len(fake.posted(CHANNEL)) == len(ids) + len(withdrawn), "nothing else was posted"
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE status = 'dead'") == 0
    for approval_id in ids:
        (message,) = posts[approval_id]
        row = await pool.fetchrow(
            "SELECT status, slack_message_ts, slack_thread_ts FROM approval_requests WHERE id = $1::uuid", approval_id
        )
        assert row["slack_message_ts"] == message.ts == row["slack_thread_ts"]
        shown = json.dumps(message.blocks)
        if approval_id in withdrawn:
            assert row["status"] == "cancelled" and "Withdrawn" in shown and "approval_approve" not in shown
            (reply,) = replies[approval_id]
            assert reply.thread_ts == message.ts and float(reply.ts) > float(message.ts), "in order in its thread"
        else:
            assert row["status"] == "pending" and "approval_approve" in shown and not replies[approval_id]
