"""Fault (c): the process's LISTEN connection is killed with pg_terminate_backend, and cannot come back for
a while (the proxy in front of PostgreSQL refuses new connections; open pool connections keep working).

/readyz turns 503 naming ``listen``, then 200 again once it reconnects; meanwhile and after, the outbox
still delivers (each approval posted to Slack once), long-polls still answer (also two on one request),
and a stream loses nothing: every event published before, during and after arrives once, in order.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aiohttp
import asyncpg

from db.listen import APPLICATION_NAME
from tests.conftest import bearer
from tests.fakes.slack import FakeSlack, fake_slack
from tests.integration.agents.sse import SSE
from tests.reliability.conftest import AppProcess, wait_for

SERVICE = bearer("service_role", expires_in=3600)
LISTENER = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1"


async def readyz(http: aiohttp.ClientSession, app: AppProcess) -> tuple[int, dict[str, Any]]:
    async with http.get(f"{app.url}/readyz") as r:
        return r.status, await r.json()


async def publish(http: aiohttp.ClientSession, app: AppProcess, n: int, target: str) -> None:
    body = {"source_agent_id": "prober", "source_agent_type": "test", "event_type": f"probe.{n}"}
    async with http.post(f"{app.url}/api/v1/events", json={**body, "target_agent_ids": [target]}, headers=SERVICE) as r:
        assert r.status == 201, await r.text()


async def new_approval(http: aiohttp.ClientSession, app: AppProcess, label: str) -> str:
    body = {"agent_name": "prober", "action_type": label, "action_details": {"label": label}, "risk_level": "low"}
    async with http.post(f"{app.url}/api/v1/approvals", json=body, headers=SERVICE) as r:
        assert r.status == 201, await r.text()
        approval_id: str = (await r.json())["id"]
        return approval_id


def posts_of(fake: FakeSlack, approval_id: str) -> int:
    requests = [c for c in fake.called("chat.postMessage") if not c.args.get("thread_ts")]  # not the replies
    return sum(approval_id in json.dumps(c.args) for c in requests)


async def long_poll(http: aiohttp.ClientSession, app: AppProcess, approval_id: str) -> tuple[int, str, float]:
    """(status, the request's status or the error, when it answered)."""
    async with http.get(f"{app.url}/api/v1/approvals/{approval_id}?wait=30", headers=SERVICE) as r:
        body = await r.json()
        return r.status, body.get("status", body.get("error")), time.monotonic()


async def test_the_listen_connection_killed_and_kept_down(db_proxy: Any, own_database: str, start_app: Any) -> None:
    proxy, proxied_url = db_proxy
    admin = await asyncpg.connect(own_database)
    async with fake_slack() as fake, aiohttp.ClientSession() as http:
        app = start_app(
            DATABASE_URL=proxied_url,
            SLACK_BOT_TOKEN="xoxb-test",
            SLACK_API_URL=fake.url,
            SLACK_APPROVALS_CHANNEL="C0APPROVALS",
        )
        await app.ready()
        before = await new_approval(http, app, "before")
        await wait_for(lambda: posts_of(fake, before), 15)
        target = f"agent-{uuid.uuid4().hex[:6]}"
        async with http.get(f"{app.url}/api/v1/events/stream", params={"target": target}, headers=SERVICE) as response:
            stream = SSE(response)
            await stream.until_connected()
            await publish(http, app, 0, target)
            waiting = asyncio.create_task(long_poll(http, app, before))

            # The fault: the LISTEN backend dies and cannot reconnect (new connections refused).
            pid = await admin.fetchval(LISTENER, APPLICATION_NAME)
            assert pid is not None
            proxy.refusing = True
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            status, body = await wait_for(lambda: _unready(http, app), 10)
            assert status == 503 and "listen" in body["down"], body
            assert body["components"]["listen"]["ready"] is False

            # While it is down: publish, queue a Slack post, decide the waited-on request.
            for n in (1, 2, 3):
                await publish(http, app, n, target)
            during = await new_approval(http, app, "during")
            async with http.post(f"{app.url}/api/v1/approvals/{before}/cancel", headers=SERVICE) as r:
                assert r.status == 200
            assert (await asyncio.wait_for(waiting, 15))[:2] == (200, "cancelled"), "a long-poll still answers"

            # The fault ends.
            proxy.refusing = False
            ended = time.monotonic()
            await wait_for(lambda: _ready(http, app), 15)
            recovery_s = time.monotonic() - ended
            new_pid = await admin.fetchval(LISTENER, APPLICATION_NAME)
            assert new_pid not in (None, pid)

            for n in (4, 5):
                await publish(http, app, n, target)
            got = await stream.events(6, deadline_s=20)
        seen = [e["event_type"] for e in got]
        assert seen == [f"probe.{n}" for n in range(6)], seen  # in seq order: a double would show here

        after = await new_approval(http, app, "after")
        await wait_for(lambda: posts_of(fake, during) and posts_of(fake, after), 20)
        # Two waiters on one request after the reconnect: both answer when it is decided, promptly.
        waiters = [asyncio.create_task(long_poll(http, app, after)) for _ in range(2)]
        decided = time.monotonic()
        async with http.post(f"{app.url}/api/v1/approvals/{after}/cancel", headers=SERVICE) as r:
            assert r.status == 200
        answers = await asyncio.wait_for(asyncio.gather(*waiters), 15)
        assert [a[:2] for a in answers] == [(200, "cancelled")] * 2
        counts = {label: posts_of(fake, a) for label, a in (("before", before), ("during", during), ("after", after))}
        assert counts == {"before": 1, "during": 1, "after": 1}, counts
        crashes = app.events("supervisor.crashed")
    await admin.close()
    print(
        f"\nFAULT listen: injected pg_terminate_backend(listen pid {pid}) + new connections refused;"
        f" /readyz 503 naming listen; events lost 0 doubled 0 (6 of 6 in order); Slack posts {counts};"
        f" long-polls answered {[round(a[2] - decided, 2) for a in answers]} s after the decision;"
        f" supervisor crashes {len(crashes)};"
        f" recovery after the fault ended: {recovery_s:.2f} s"
    )


async def _unready(http: aiohttp.ClientSession, app: AppProcess) -> tuple[int, dict[str, Any]] | None:
    status, body = await readyz(http, app)
    return (status, body) if status == 503 else None


async def _ready(http: aiohttp.ClientSession, app: AppProcess) -> bool:
    return (await readyz(http, app))[0] == 200
