"""Transient versus permanent for Linear and GitHub calls made from the outbox: rate limits wait
(RetryLater), 5xx and timeouts are retried with backoff, other 4xx are permanent (the row goes dead)."""

from __future__ import annotations

import asyncpg
import pytest

from app import wire
from config import Config
from integrations.github import client as github
from integrations.linear import client as linear
from jobs import outbox
from tests.fakes.github import Pull, fake_github
from tests.fakes.linear import fake_linear


async def test_linear_refusals_are_permanent_outages_are_not(pool: asyncpg.Pool) -> None:
    async with fake_linear() as fake:
        ctx = outbox.Context(pool=pool, config=Config(linear_api_key="lin_api_test", linear_api_url=fake.url))
        update = {"id": "no-such-issue", "input": {"stateId": "s"}}
        with pytest.raises(linear.LinearRefused, match="Entity not found"):
            await linear.execute(ctx, linear.ISSUE_UPDATE, update)
        fake.rate_limit(times=1, reset_in_s=5)
        with pytest.raises(outbox.RetryLater):
            await linear.execute(ctx, linear.ISSUE_UPDATE, update)
        fake.down = True
        with pytest.raises(linear.LinearError) as caught:
            await linear.execute(ctx, linear.ISSUE_UPDATE, update)
        assert not isinstance(caught.value, outbox.Permanent), "a 503 heals"


async def test_github_refusals_are_permanent_outages_are_not(pool: asyncpg.Pool) -> None:
    async with fake_github() as fake:
        fake.pulls[("acme/app", 7)] = Pull(files=[("a.py", "added")])
        ctx = outbox.Context(pool=pool, config=Config(github_token=fake.token, github_api_url=fake.url))
        with pytest.raises(outbox.Permanent, match="HTTP 404"):
            await github.pull_request_files(ctx, "acme/missing", 1)
        fake.rate_limit(status=429, times=1, retry_after="3")
        with pytest.raises(outbox.RetryLater) as waited:
            await github.pull_request_files(ctx, "acme/app", 7)
        assert waited.value.after_s == 3
        fake.rate_limit(status=502, times=1)
        with pytest.raises(Exception) as caught:
            await github.pull_request_files(ctx, "acme/app", 7)
        assert not isinstance(caught.value, outbox.Permanent | outbox.RetryLater), "a 502 heals"
        assert await github.pull_request_files(ctx, "acme/app", 7) == [("a.py", "added")]


async def test_a_permanent_failure_in_a_real_handler_is_dead_at_once(pool: asyncpg.Pool) -> None:
    """github.pr_files for a repository GitHub does not know: dead with its error, not retried 12 times."""
    async with fake_github() as fake:
        ctx = outbox.Context(
            pool=pool, config=Config(github_token=fake.token, github_api_url=fake.url), handlers=wire().outbox
        )
        request_id = await pool.fetchval(
            "INSERT INTO coding_requests (source, source_id, title) VALUES ('slack', 's-1', 't') RETURNING id"
        )
        async with pool.acquire() as conn:
            await outbox.enqueue(
                conn, "github.pr_files", {"request_id": str(request_id), "repo": "acme/missing", "pr_number": 1}
            )
        assert await outbox.deliver_due(ctx) == 1
        row = await pool.fetchrow("SELECT status, attempts, last_error FROM outbox")
        assert row["status"] == "dead" and row["attempts"] == 1 and "404" in row["last_error"]
