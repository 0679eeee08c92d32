"""The console in a real browser: Debian's Chromium driven by Playwright's async API, in the test's own
event loop (so the app under test, the fake Slack and the browser run side by side), against the real
app, a real PostgreSQL and the fake Slack (Web API and OpenID Connect) on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, async_playwright

from domain.approvals import store as approvals
from domain.approvals.policy import RiskLevel
from domain.approvals.rules import NewApproval
from handlers.console import sessions
from handlers.keys import CONFIG, WIRING
from jobs import outbox
from tests.fakes.slack import FakeSlack, fake_slack, interaction_body, signed_headers
from tests.integration.webhooks.conftest import SENTRY_SECRET, Senders

SHOTS = Path(__file__).parent / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
SLACK_SECRET = "slack-signing-secret-for-console"
CHANNEL = "C0APPROVALS"
# Without the background-networking flags Chromium keeps trying to reach Google on a closed network.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Console:
    client: TestClient[Any, Any]
    slack: FakeSlack
    pool: asyncpg.Pool
    browser: Browser
    ctx: outbox.Context
    send: Senders

    @property
    def base(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    async def page(self) -> Page:
        context = await self.browser.new_context(viewport={"width": 1280, "height": 900})
        return await context.new_page()

    async def signed_in(self, user: str = sessions.LOCAL_ADMIN) -> Page:
        """A page signed in through a one-time link (as ``python app.py console-link`` prints)."""
        token = await sessions.create_link(self.pool, user)
        page = await self.page()
        await page.goto(f"{self.base}/console/link/{token}")
        assert page.url == f"{self.base}/console"
        return page

    async def deliver(self) -> int:
        total = 0
        while n := await outbox.deliver_due(self.ctx):
            total += n
        return total

    async def approval(self, risk: RiskLevel = RiskLevel.MEDIUM, to: str = "v41") -> approvals.Approval:
        """A pending request; an identical one rejected before would be rejected at once (rejection memory)."""
        async with self.pool.acquire() as conn, conn.transaction():
            return await approvals.create(
                conn,
                NewApproval(
                    agent_name="deploy-agent",
                    action_type="rollback_deployment",
                    action_details={"service": "checkout", "to": to},
                    risk_level=risk,
                    continuation_event_type="deploy.rollback.decided",
                    continuation_payload={"step": 3},
                    channel=CHANNEL,
                ),
            )

    async def slack_click(self, action_id: str, approval_id: str, user: str) -> Any:
        from tests.integration.approvals.conftest import click_payload

        body = interaction_body(click_payload(action_id, approval_id, user=user))
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(body, SLACK_SECRET)}
        return await self.client.post("/slack/events", data=body, headers=headers)


async def eventually(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], within_s: float = 15) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        value = await read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"condition not met within {within_s}s: {value!r}"
        await asyncio.sleep(0.05)


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        await launched.close()


@pytest.fixture
async def console(app_factory: Callable[..., Any], pool: asyncpg.Pool, browser: Browser) -> AsyncIterator[Console]:
    async with fake_slack() as slack:
        client = await app_factory(
            sentry_client_secret=SENTRY_SECRET,
            slack_signing_secret=SLACK_SECRET,
            slack_bot_token="xoxb-console-test",
            slack_api_url=slack.url,
            slack_approvals_channel=CHANNEL,
            slack_client_id=slack.oidc_client[0],
            slack_client_secret=slack.oidc_client[1],
            slack_oidc_authorize_url=slack.authorize_url,
        )
        ctx = outbox.Context(pool=pool, config=client.app[CONFIG], handlers=client.app[WIRING].outbox)
        yield Console(client, slack, pool, browser, ctx, Senders(client))


def approvers(setting: dict[str, list[str]]) -> str:
    return json.dumps(setting)


def new_id() -> str:
    return str(uuid.uuid4())
