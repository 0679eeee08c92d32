"""integrations/slack/client.py against the fake Slack server: the real slack_sdk client, real HTTP."""

from __future__ import annotations

import asyncpg
import pytest

from app import wire
from config import Config
from integrations.slack import client as slack
from jobs.outbox import Context, RetryLater
from tests.fakes.slack import fake_slack


async def test_call_posts_with_the_bot_token(pool: asyncpg.Pool) -> None:
    async with fake_slack() as fake:
        ctx = Context(
            pool=pool, config=Config(slack_bot_token="xoxb-test", slack_api_url=fake.url), handlers=wire().outbox
        )
        answer = await slack.call(ctx, "chat.postMessage", channel="C1", text="hello")
        assert answer["ok"] and answer["channel"] == "C1" and answer["ts"]
        (call,) = fake.called("chat.postMessage")
        assert call.token == "xoxb-test" and call.args["text"] == "hello"


async def test_persistent_429_becomes_retry_later_with_retry_after(pool: asyncpg.Pool) -> None:
    async with fake_slack() as fake:
        fake.rate_limit("chat.postMessage", retry_after=1, times=2)
        ctx = Context(
            pool=pool, config=Config(slack_bot_token="xoxb-test", slack_api_url=fake.url), handlers=wire().outbox
        )
        with pytest.raises(RetryLater) as caught:
            await slack.call(ctx, "chat.postMessage", channel="C1", text="hello")
        assert caught.value.after_s == 1
        assert len(fake.called("chat.postMessage")) == 2, "slack_sdk retried once after Retry-After"


async def test_one_429_is_retried_by_slack_sdk(pool: asyncpg.Pool) -> None:
    async with fake_slack() as fake:
        fake.rate_limit("chat.postMessage", retry_after=1, times=1)
        ctx = Context(
            pool=pool, config=Config(slack_bot_token="xoxb-test", slack_api_url=fake.url), handlers=wire().outbox
        )
        answer = await slack.call(ctx, "chat.postMessage", channel="C1", text="hello")
        assert answer["ok"]


async def test_missing_token_waits_in_the_outbox(pool: asyncpg.Pool) -> None:
    ctx = Context(pool=pool, config=Config(), handlers=wire().outbox)
    with pytest.raises(RetryLater, match="SLACK_BOT_TOKEN"):
        await slack.call(ctx, "chat.postMessage", channel="C1", text="hello")
