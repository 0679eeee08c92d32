"""Fault (d): two instances on one database, jobs on in both. The same signed delivery sent to both at once,
and the same jobs ticking on both (approval expiry, the outbox), give one effect each."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aiohttp
import asyncpg

from tests.conftest import bearer
from tests.fakes.slack import fake_slack
from tests.reliability.conftest import wait_for
from tests.reliability.deliveries import SENTRY_SECRET, delivery, per_issue, send

SERVICE = bearer("service_role", expires_in=3600)
ISSUES = 10
APPROVALS = 5


async def test_two_instances_one_effect_each(own_database: str, start_app: Any) -> None:
    async with fake_slack() as fake, aiohttp.ClientSession() as http:
        env = {
            "DATABASE_URL": own_database,
            "SENTRY_CLIENT_SECRET": SENTRY_SECRET,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_API_URL": fake.url,
            "SLACK_INCIDENTS_CHANNEL": "C0INCIDENTS",
            "SLACK_APPROVALS_CHANNEL": "C0APPROVALS",
        }
        one = start_app(**env)
        await one.ready()  # the first migrates; the second finds nothing to do
        two = start_app(**env)
        await two.ready()

        deliveries = [delivery(f"7{n:06d}") for n in range(ISSUES)]
        answers = await asyncio.gather(*(send(http, app.url, d) for d in deliveries for app in (one, two)))
        assert set(answers) == {200}, answers

        approvals = []
        for n in range(APPROVALS):
            body = {"agent_name": "twin", "action_type": f"t{n}", "action_details": {}, "risk_level": "low"}
            async with http.post(f"{(one, two)[n % 2].url}/api/v1/approvals", json=body, headers=SERVICE) as r:
                approvals.append(uuid.UUID((await r.json())["id"]))
        conn = await asyncpg.connect(own_database)
        try:
            await wait_for(lambda: _posted(conn, approvals), 20)
            expired_at = time.monotonic()
            await conn.execute(
                "UPDATE approval_requests SET expires_at = now() - interval '1 s' WHERE id = ANY($1)", approvals
            )
            # Both replicas' approvals.expire jobs tick every 10 s; one expiry and one event each.
            await wait_for(lambda: _all_expired(conn, approvals), 30)
            expiry_s = time.monotonic() - expired_at
            events = await conn.fetchval("SELECT count(*) FROM agent_events WHERE correlation_id = ANY($1)", approvals)
            made = await per_issue(conn)
            rows = await conn.fetchval("SELECT count(*) FROM webhook_deliveries")
            await fake.wait_until(lambda: _incident_posts(fake) >= ISSUES, 20)
            await fake.wait_until(lambda: len(fake.called("chat.update")) >= APPROVALS, 20)
            ts = dict(
                await conn.fetch("SELECT id, slack_message_ts FROM approval_requests WHERE id = ANY($1)", approvals)
            )
        finally:
            await conn.close()
        requests = [c for c in fake.called("chat.postMessage") if not c.args.get("thread_ts")]  # not the replies
        posts = {a: sum(str(a) in json.dumps(c.args) for c in requests) for a in approvals}
        updates = {a: sum(c.args.get("ts") == ts[a] for c in fake.called("chat.update")) for a in approvals}
    assert rows == ISSUES and all(v == (1, 1) for v in made.values()) and len(made) == ISSUES, made
    assert _incident_posts(fake) == ISSUES
    assert events == APPROVALS and set(posts.values()) == {1} and set(updates.values()) == {1}, (posts, updates)
    served = [len(app.events("http.request")) for app in (one, two)]
    print(
        f"\nFAULT two instances: {ISSUES} deliveries each sent to both -> {rows} rows, incidents {len(made)},"
        f" Slack incident posts {_incident_posts(fake)}; {APPROVALS} approvals expired by two expiry jobs ->"
        f" events {events}, posts {sorted(set(posts.values()))}, updates {sorted(set(updates.values()))}"
        f" (doubled 0); expiry seen {expiry_s:.1f} s after the deadline; requests served {served}"
    )


def _incident_posts(fake: Any) -> int:
    return sum(c.args.get("channel") == "C0INCIDENTS" for c in fake.called("chat.postMessage"))


async def _posted(conn: asyncpg.Connection, approvals: list[uuid.UUID]) -> bool:
    posted = await conn.fetchval(
        "SELECT count(*) FROM approval_requests WHERE id = ANY($1) AND slack_message_ts IS NOT NULL", approvals
    )
    return bool(posted == len(approvals))


async def _all_expired(conn: asyncpg.Connection, approvals: list[uuid.UUID]) -> bool:
    n = await conn.fetchval(
        "SELECT count(*) FROM approval_requests WHERE id = ANY($1) AND status = 'expired'", approvals
    )
    return bool(n == len(approvals))
