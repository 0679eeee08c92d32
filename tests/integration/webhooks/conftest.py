"""Fixtures for webhook tests: the app with all three secrets, fake Linear and fake Slack, and helpers
that post signed recorded payloads exactly as the senders do."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from app import wire
from config import Config
from handlers.keys import POOL, WIRING
from integrations.linear import client as linear_client
from jobs import inbox_worker, outbox
from tests.conftest import FIXTURES, make_config
from tests.fakes.linear import FakeLinear, fake_linear
from tests.fakes.slack import FakeSlack, fake_slack

SENTRY_SECRET = "sentry-client-secret-for-tests"
GITHUB_SECRET = "github-webhook-secret-for-tests"
LINEAR_SECRET = "linear-webhook-secret-for-tests"
INCIDENTS_CHANNEL = "C0INCIDENTS"


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def fixture_bytes(source: str, name: str) -> bytes:
    return (FIXTURES / source / f"{name}.json").read_bytes()


def sentry_variant(name: str, action: str) -> bytes:
    """A recorded Sentry issue payload with another ``action`` (Sentry sends the same issue object for
    every issue action; only created/resolved were recorded), compact as Sentry serialises."""
    payload = json.loads(fixture_bytes("sentry", name))
    payload["action"] = action
    return json.dumps(payload, separators=(",", ":")).encode()


def linear_now(recorded: bytes, *, now_ms: int | None = None) -> bytes:
    """A recorded Linear body with webhookTimestamp set to now, the one change the senders' docs allow."""
    payload = json.loads(recorded)
    payload["webhookTimestamp"] = int(time.time() * 1000) if now_ms is None else now_ms
    return json.dumps(payload, separators=(",", ":")).encode()


def linear_body(name: str, *, now_ms: int | None = None) -> bytes:
    """A recorded Linear payload (tests/fixtures/linear/<name>.json) as it would be delivered now."""
    return linear_now(fixture_bytes("linear", name), now_ms=now_ms)


def corpus_bytes(source: str, name: str) -> bytes:
    """A payload of the stored public corpus (tests/fixtures/<source>/corpus/<name>.json)."""
    return (FIXTURES / source / "corpus" / f"{name}.json").read_bytes()


@dataclass
class Senders:
    """Posts signed deliveries; then, as the inbox workers would (the test app runs no jobs), processes
    what was stored, unless ``process`` is False."""

    client: TestClient[Any, Any]
    process: bool = True

    async def _posted(self, path: str, body: bytes, headers: dict[str, str]) -> ClientResponse:
        response = await self.client.post(path, data=body, headers=headers)
        if self.process and response.status == 200:
            await self.drain()
        return response

    async def drain(self) -> int:
        """Process every stored delivery that is ready (what the inbox workers do)."""
        app = self.client.server.app
        return await inbox_worker.drain(app[POOL], app[WIRING].router)

    async def sentry(
        self, body: bytes, resource: str, *, request_id: str | None = None, headers: dict[str, str] | None = None
    ) -> ClientResponse:
        sent = {
            "Content-Type": "application/json",
            "Request-ID": request_id or uuid.uuid4().hex,
            "Sentry-Hook-Resource": resource,
            "Sentry-Hook-Timestamp": str(int(time.time())),
            "Sentry-Hook-Signature": sign(body, SENTRY_SECRET),
            **(headers or {}),
        }
        return await self._posted("/webhooks/sentry", body, sent)

    async def github(self, body: bytes, event: str, *, delivery: str | None = None) -> ClientResponse:
        sent = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/044aadd",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": "sha256=" + sign(body, GITHUB_SECRET),
        }
        return await self._posted("/webhooks/github", body, sent)

    async def linear(self, body: bytes, *, delivery: str | None = None, event: str = "Issue") -> ClientResponse:
        sent = {
            "Content-Type": "application/json; charset=utf-8",
            "Linear-Event": event,
            "Linear-Delivery": delivery or str(uuid.uuid4()),
            "Linear-Signature": sign(body, LINEAR_SECRET),
        }
        return await self._posted("/webhooks/linear", body, sent)


@dataclass
class World:
    client: TestClient[Any, Any]
    send: Senders
    linear: FakeLinear
    slack: FakeSlack
    ctx: outbox.Context
    pool: asyncpg.Pool

    async def drain(self, rounds: int = 20) -> None:
        """Deliver the outbox until nothing is due now (work told to wait stays waiting)."""
        for _ in range(rounds):
            if await outbox.deliver_due(self.ctx) == 0:
                return
        raise AssertionError("the outbox kept producing due work")

    async def make_due(self) -> None:
        """Let time pass for the outbox: every pending row is due now."""
        await self.pool.execute("UPDATE outbox SET next_attempt_at = now() WHERE status = 'pending'")


def world_settings(linear: FakeLinear, slack: FakeSlack, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "sentry_client_secret": SENTRY_SECRET,
        "github_webhook_secret": GITHUB_SECRET,
        "linear_webhook_secret": LINEAR_SECRET,
        "linear_api_url": linear.url,
        "linear_api_key": "lin_api_test",
        "linear_team_key": "ENG",
        "slack_api_url": slack.url,
        "slack_bot_token": "xoxb-test",
        "slack_incidents_channel": INCIDENTS_CHANNEL,
    }
    values.update(overrides)
    return values


@pytest.fixture
async def world_factory(
    app_factory: Callable[..., Any], pool: asyncpg.Pool, database_url: str
) -> AsyncIterator[Callable[..., Any]]:
    async with fake_linear() as linear, fake_slack() as slack:
        linear.add_team("ENG")
        worlds: list[World] = []

        async def build(**overrides: Any) -> World:
            values = world_settings(linear, slack, **overrides)
            config: Config = make_config(database_url, **values)
            client = await app_factory(**values)
            worlds.append(
                World(
                    client,
                    Senders(client),
                    linear,
                    slack,
                    outbox.Context(pool=pool, config=config, handlers=wire().outbox),
                    pool,
                )
            )
            return worlds[-1]

        yield build
        for made in worlds:
            await linear_client.close(made.ctx)


@pytest.fixture
async def world(world_factory: Callable[..., Any]) -> World:
    built: World = await world_factory()
    return built
