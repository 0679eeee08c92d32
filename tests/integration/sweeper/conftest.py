"""The sweeper's world: the app with all three webhook secrets, fake Linear, Slack, Sentry and GitHub
(hook deliveries) on loopback, and the config a sweep runs with."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from app import wire
from config import Config
from domain.sweeper import runner
from jobs import outbox
from tests.conftest import make_config
from tests.fakes.github import FakeHooks, fake_github_hooks
from tests.fakes.linear import fake_linear
from tests.fakes.sentry import FakeSentry, fake_sentry
from tests.fakes.slack import fake_slack
from tests.integration.webhooks.conftest import Senders, World, world_settings


@dataclass
class SweepWorld(World):
    sentry: FakeSentry
    hooks: FakeHooks
    config: Config

    async def sweep(self, **kwargs: Any) -> runner.Report:
        since = kwargs.pop("since", datetime.now(UTC) - timedelta(days=1))
        return await runner.sweep(self.pool, self.config, since=since, **kwargs)

    async def notes(self) -> list[str]:
        rows = await self.pool.fetch("SELECT payload FROM outbox WHERE kind = 'incident.update' ORDER BY id")
        return [r["payload"].get("note") or "" for r in rows]


@pytest.fixture
async def sweep_world(
    app_factory: Callable[..., Any], pool: asyncpg.Pool, database_url: str
) -> AsyncIterator[SweepWorld]:
    async with fake_linear() as linear, fake_slack() as slack, fake_sentry() as sentry, fake_github_hooks() as hooks:
        linear.add_team("ENG")
        values = world_settings(
            linear,
            slack,
            github_api_url=hooks.github.url,
            github_token=hooks.github.token,
            sentry_api_url=sentry.url,
            sentry_auth_token=sentry.token,
            sentry_org=sentry.org,
        )
        config: Config = make_config(database_url, **values)
        client = await app_factory(**values)
        yield SweepWorld(
            client,
            Senders(client),
            linear,
            slack,
            outbox.Context(pool=pool, config=config, handlers=wire().outbox),
            pool,
            sentry,
            hooks,
            config,
        )
