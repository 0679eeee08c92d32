"""integrations/slack/client.py against the fake Slack server: the real slack_sdk client, real HTTP."""

from __future__ import annotations

import asyncio

import aiohttp
import asyncpg
import pytest

from app import wire
from config import Config
from integrations.slack import client as slack
from jobs.outbox import Context, Permanent, RetryLater
from tests.fakes.slack import FakeSlack, fake_slack


def _ctx(pool: asyncpg.Pool, fake: FakeSlack) -> Context:
    return Context(
        pool=pool, config=Config(slack_bot_token="xoxb-test", slack_api_url=fake.url), handlers=wire().outbox
    )


async def test_call_posts_with_the_bot_token(pool: asyncpg.Pool) -> None:
    async with fake_slack() as fake:
        answer = await slack.call(_ctx(pool, fake), "chat.postMessage", channel="C1", text="hello")
        assert answer["ok"] and answer["channel"] == "C1" and answer["ts"]
        (call,) = fake.called("chat.postMessage")
        assert call.token == "xoxb-test" and call.args["text"] == "hello"


async def test_a_429_becomes_retry_later_at_once_without_sleeping(pool: asyncpg.Pool) -> None:
    async with fake_slack() as fake:
        fake.rate_limit("chat.postMessage", retry_after=30, times=1)
        started = asyncio.get_running_loop().time()
        with pytest.raises(RetryLater) as caught:
            await slack.call(_ctx(pool, fake), "chat.postMessage", channel="C1", text="hello")
        assert caught.value.after_s == 30
        assert asyncio.get_running_loop().time() - started < 5, "nothing slept through Retry-After"
        assert len(fake.called("chat.postMessage")) == 1, "no retry inside the call: the outbox retries"


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_transient(pool: asyncpg.Pool, status: int) -> None:
    async with fake_slack() as fake:
        fake.answer_status("chat.postMessage", status)
        with pytest.raises(slack.SlackUnavailable) as caught:
            await slack.call(_ctx(pool, fake), "chat.postMessage", channel="C1", text="hello")
        assert not isinstance(caught.value, Permanent | RetryLater)


@pytest.mark.parametrize("error", ["channel_not_found", "invalid_blocks", "not_in_channel", "is_archived"])
async def test_errors_that_cannot_heal_are_permanent(pool: asyncpg.Pool, error: str) -> None:
    async with fake_slack() as fake:
        fake.fail("chat.postMessage", error)
        with pytest.raises(slack.SlackRefused) as caught:
            await slack.call(_ctx(pool, fake), "chat.postMessage", channel="C1", text="hello")
        assert isinstance(caught.value, Permanent) and caught.value.error == error


async def test_not_authed_is_permanent(pool: asyncpg.Pool) -> None:
    async with fake_slack() as fake:
        ctx = _ctx(pool, fake)
        ctx.clients["slack"] = slack.outbox_client(Config(slack_bot_token=None, slack_api_url=fake.url))
        with pytest.raises(slack.SlackRefused, match="not_authed"):
            await slack.call(ctx, "chat.postMessage", channel="C1", text="hello")


async def test_slacks_own_transient_errors_are_retried(pool: asyncpg.Pool) -> None:
    async with fake_slack() as fake:
        fake.fail("chat.postMessage", "internal_error")
        with pytest.raises(slack.SlackUnavailable):
            await slack.call(_ctx(pool, fake), "chat.postMessage", channel="C1", text="hello")


async def test_a_dropped_connection_is_not_resent_by_the_client(pool: asyncpg.Pool) -> None:
    """The post took effect; resending inside the client would double it. The outbox decides."""
    async with fake_slack() as fake:
        fake.drop_after_posting("chat.postMessage")
        with pytest.raises(aiohttp.ClientError):
            await slack.call(_ctx(pool, fake), "chat.postMessage", channel="C1", text="hello")
        assert len(fake.called("chat.postMessage")) == 1 and len(fake.posted("C1")) == 1


async def test_a_late_answer_times_out(pool: asyncpg.Pool) -> None:
    async with fake_slack() as fake:
        fake.stall("chat.postMessage", 2.5)
        ctx = _ctx(pool, fake)
        ctx.clients["slack"] = slack.outbox_client(ctx.config, timeout_s=1)
        with pytest.raises(asyncio.TimeoutError):
            await slack.call(ctx, "chat.postMessage", channel="C1", text="hello")


async def test_a_posted_message_is_found_by_its_metadata(pool: asyncpg.Pool) -> None:
    async with fake_slack() as fake:
        ctx = _ctx(pool, fake)
        await slack.call(ctx, "chat.postMessage", channel="C1", text="other")
        answer, adopted = await slack.post_once(ctx, "C1", "swarm_bridge_test", {"id": "a-1"}, text="mine")
        assert not adopted
        (mine,) = [m for m in fake.posted("C1") if m.text == "mine"]
        assert mine.metadata == {"event_type": "swarm_bridge_test", "event_payload": {"id": "a-1"}}
        found = await slack.find_posted(ctx, "C1", "swarm_bridge_test", {"id": "a-1"}, thread_ts=None, oldest=None)
        assert found is not None and found["ts"] == answer["ts"] == mine.ts
        missing = await slack.find_posted(ctx, "C1", "swarm_bridge_test", {"id": "a-2"}, thread_ts=None, oldest=None)
        assert missing is None
        (history, *_) = fake.called("conversations.history")
        assert history.args["include_all_metadata"] in ("1", "true")


async def test_find_posted_pages_through_history_and_threads(pool: asyncpg.Pool) -> None:
    async with fake_slack() as fake:
        ctx = _ctx(pool, fake)
        parent, _ = await slack.post_once(ctx, "C1", "swarm_bridge_test", {"id": "p"}, text="parent")
        await slack.post_once(ctx, "C1", "swarm_bridge_reply", {"id": "r"}, thread_ts=parent["ts"], text="reply")
        for i in range(250):
            await slack.call(ctx, "chat.postMessage", channel="C1", text=f"noise {i}")
        found = await slack.find_posted(ctx, "C1", "swarm_bridge_test", {"id": "p"}, thread_ts=None, oldest=None)
        assert found is not None and found["ts"] == parent["ts"]
        assert len(fake.called("conversations.history")) == 2, "the second page holds it"
        reply = await slack.find_posted(
            ctx, "C1", "swarm_bridge_reply", {"id": "r"}, thread_ts=parent["ts"], oldest=None
        )
        assert reply is not None and reply["thread_ts"] == parent["ts"]


async def test_missing_token_waits_in_the_outbox(pool: asyncpg.Pool) -> None:
    ctx = Context(pool=pool, config=Config(), handlers=wire().outbox)
    with pytest.raises(RetryLater, match="SLACK_BOT_TOKEN"):
        await slack.call(ctx, "chat.postMessage", channel="C1", text="hello")


async def test_the_outbox_client_keeps_its_connection(pool: asyncpg.Pool) -> None:
    """slack_sdk opens a session and a TCP connection per call unless given one: the outbox's client
    reuses one connection, and closing the context closes it."""
    async with fake_slack() as fake:
        ctx = _ctx(pool, fake)
        for n in range(3):
            await slack.call(ctx, "chat.postMessage", channel="C1", text=f"hello {n}")
        peers = {c.peer for c in fake.called("chat.postMessage")}
        assert len(peers) == 1, peers
        session = ctx.clients["slack"].session
        await slack.close(ctx)
        assert session.closed and "slack" not in ctx.clients
