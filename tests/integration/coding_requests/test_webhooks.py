"""Recorded Linear and GitHub deliveries through the webhook router: filing from Linear, following pull requests.

The signed HTTP endpoint is another branch's; these build the WebhookEvent it hands to the router.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from app import wire
from config import Config
from domain.coding_requests import store as coding_requests
from domain.coding_requests.rules import Changes, PullRequestFact, Status
from jobs import outbox
from jobs.routing import WebhookEvent
from tests.conftest import FIXTURES
from tests.fakes.github import Pull, fake_github

from .helpers import events, file_request, outbox_rows

LINEAR_UPDATE = json.loads((FIXTURES / "linear" / "issue.update.json").read_text())
LINEAR_CREATE = json.loads((FIXTURES / "linear" / "issue.create.json").read_text())
PR_OPENED = json.loads((FIXTURES / "github" / "pull_request.opened.json").read_text())
PR_MERGED = json.loads((FIXTURES / "github" / "pull_request.closed.merged.json").read_text())


def event(source: str, event_type: str, payload: dict[str, Any], delivery: str = "d-1") -> WebhookEvent:
    return WebhookEvent(source, delivery, event_type, payload.get("action"), payload, datetime.now(UTC))


async def dispatch(pool: asyncpg.Pool, webhook: WebhookEvent) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        return await wire().router.dispatch(conn, webhook)


async def set_labels(pool: asyncpg.Pool, labels: list[str]) -> None:
    await pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'coding_requests.linear_labels'", labels
    )


async def move(pool: asyncpg.Pool, number: int, **changes: Any) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await coding_requests.change(conn, number, Changes(**changes))


async def test_the_label_setting_is_seeded_with_a_schema(pool: asyncpg.Pool) -> None:
    row = await pool.fetchrow(
        "SELECT config_value, value_schema, description FROM agent_swarm_config"
        " WHERE config_key = 'coding_requests.linear_labels'"
    )
    assert row["config_value"] == ["coding-agent"] and row["value_schema"]["type"] == "array" and row["description"]


async def test_linear_issues_without_a_configured_label_file_nothing(pool: asyncpg.Pool) -> None:
    # The recorded issues carry no "coding-agent" label (create: none; update: Improvement, Feature, Bug, Custom Label).
    assert await dispatch(pool, event("linear", "Issue", LINEAR_CREATE))
    assert await dispatch(pool, event("linear", "Issue", LINEAR_UPDATE))
    assert await pool.fetchval("SELECT count(*) FROM coding_requests") == 0


async def test_a_labelled_linear_issue_files_one_request(pool: asyncpg.Pool) -> None:
    await set_labels(pool, ["custom label"])
    for delivery in ("d-1", "d-1-redelivered", "d-2"):
        await dispatch(pool, event("linear", "Issue", LINEAR_UPDATE, delivery))
    rows = await pool.fetch("SELECT * FROM coding_requests")
    assert len(rows) == 1
    row = rows[0]
    assert (row["source"], row["source_id"], row["source_url"]) == (
        "linear",
        LINEAR_UPDATE["data"]["id"],
        LINEAR_UPDATE["url"],
    )
    assert (row["priority"], row["request_type"], row["status"]) == ("urgent", "bug", "pending")
    assert row["title"] == LINEAR_UPDATE["data"]["title"]
    created = await events(pool, "coding_request.created")
    assert len(created) == 1 and created[0].target_agent_ids == ["coding-agent"]
    # No Slack requester: nothing queued for Slack.
    assert await outbox_rows(pool, "coding_request.notify") == []


async def test_pull_request_opened_links_by_branch_and_moves_to_review(pool: asyncpg.Pool) -> None:
    await file_request(pool)
    await move(pool, 1, status=Status.PLANNING, branch_name=PR_OPENED["pull_request"]["head"]["ref"])
    assert await dispatch(pool, event("github", "pull_request", PR_OPENED))
    row = await pool.fetchrow("SELECT * FROM coding_requests")
    assert (row["pr_number"], row["pr_url"], row["pr_status"], row["status"]) == (
        2,
        "https://github.com/Codertocat/Hello-World/pull/2",
        "open",
        "in_review",
    )
    updated = await events(pool, "coding_request.updated")
    assert [(e.payload["previous_status"], e.payload["status"]) for e in updated][-1] == ("planning", "in_review")
    notes = await outbox_rows(pool, "coding_request.notify")
    assert notes[-1]["payload"]["text"].endswith("is in review. Pull request: " + row["pr_url"])


async def test_pull_request_for_no_request_changes_nothing(pool: asyncpg.Pool) -> None:
    await file_request(pool)
    assert await dispatch(pool, event("github", "pull_request", PR_OPENED))
    row = await pool.fetchrow("SELECT pr_number, status FROM coding_requests")
    assert (row["pr_number"], row["status"]) == (None, "pending")


async def test_merged_pull_request_completes_and_fills_the_changed_files(pool: asyncpg.Pool) -> None:
    await file_request(pool)
    await move(pool, 1, status=Status.PLANNING)
    await move(pool, 1, status=Status.IN_PROGRESS, branch_name=PR_MERGED["pull_request"]["head"]["ref"])
    for delivery in ("d-1", "d-1-again"):
        await dispatch(pool, event("github", "pull_request", PR_MERGED, delivery))
    row = await pool.fetchrow("SELECT * FROM coding_requests")
    assert (row["pr_number"], row["pr_status"], row["status"]) == (3, "merged", "completed")
    assert row["completed_at"] is not None and row["pr_url"] == PR_MERGED["pull_request"]["html_url"]
    statuses = [e.payload["status"] for e in await events(pool, "coding_request.updated")]
    assert statuses == ["planning", "in_progress", "completed"]
    queued = await outbox_rows(pool, "github.pr_files")
    assert [q["payload"] for q in queued] == [
        {"request_id": str(row["id"]), "repo": "ailisp/gcbapp-buildconfig-example", "pr_number": 3}
    ]

    files = [(f"src/module_{i:03}.py", "modified") for i in range(140)]
    files += [("src/new_feature.py", "added"), ("tests/test_new_feature.py", "added")]
    async with fake_github() as fake:
        fake.pulls[("ailisp/gcbapp-buildconfig-example", 3)] = Pull(files=files, head_ref="byao1276-patch-1")
        ctx = outbox.Context(
            pool=pool, config=Config(github_token=fake.token, github_api_url=fake.url), handlers=wire().outbox
        )
        await outbox.deliver_due(ctx)
        assert fake.paths() == [
            "/repos/ailisp/gcbapp-buildconfig-example",
            "/repos/ailisp/gcbapp-buildconfig-example/pulls/3",
            "/repos/ailisp/gcbapp-buildconfig-example/pulls/3/files",
            "/repos/ailisp/gcbapp-buildconfig-example/pulls/3/files",
        ]
        assert fake.requests[-1].query["page"] == "2"
        assert all(r.authorization == f"token {fake.token}" for r in fake.requests)
    row = await pool.fetchrow("SELECT * FROM coding_requests")
    assert row["files_to_create"] == ["src/new_feature.py"]
    assert row["files_to_modify"] == [name for name, _ in files[:140]]
    assert row["test_files"] == ["tests/test_new_feature.py"]
    assert (await outbox_rows(pool, "github.pr_files"))[0]["status"] == "done"


async def test_files_already_recorded_are_kept_and_github_is_not_asked(pool: asyncpg.Pool) -> None:
    await file_request(pool)
    await move(pool, 1, status=Status.PLANNING)
    await move(pool, 1, status=Status.IN_PROGRESS, branch_name="byao1276-patch-1", files_to_modify=["app.py"])
    await dispatch(pool, event("github", "pull_request", PR_MERGED))
    assert await outbox_rows(pool, "github.pr_files") == []
    assert await pool.fetchval("SELECT files_to_modify FROM coding_requests") == ["app.py"]


async def test_without_a_github_token_the_lookup_waits_in_the_outbox(pool: asyncpg.Pool) -> None:
    await file_request(pool)
    await move(pool, 1, branch_name="byao1276-patch-1")
    await dispatch(pool, event("github", "pull_request", PR_MERGED))
    await outbox.deliver_due(outbox.Context(pool=pool, config=Config(), handlers=wire().outbox))
    row = await pool.fetchrow("SELECT status, attempts, last_error FROM outbox WHERE kind = 'github.pr_files'")
    assert (row["status"], row["attempts"]) == ("pending", 0) and "GITHUB_TOKEN" in row["last_error"]


async def test_cr_references_drafts_and_closed_unmerged(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "UPDATE agent_swarm_config SET config_value = '[\"o/r\"]' WHERE config_key = 'coding_requests.repositories'"
    )
    await file_request(pool)
    await file_request(pool, source_id="command:trigger-2", title="Other")
    draft = PullRequestFact("draft", "o/r", 7, "https://github.com/o/r/pull/7", "fix-login", "WIP cr-2", (2,), "o/r")
    async with pool.acquire() as conn, conn.transaction():
        linked = await coding_requests.follow_pull_request(conn, draft)
    assert [(r.request_number, r.pr_number, r.pr_status, r.status) for r in linked] == [(2, 7, "open", "pending")]
    opened = PullRequestFact(
        "opened", "o/r", 7, "https://github.com/o/r/pull/7", "fix-login", "Fix login (cr-2)", (2,), "o/r"
    )
    async with pool.acquire() as conn, conn.transaction():
        linked = await coding_requests.follow_pull_request(conn, opened)
    assert [r.request_number for r in linked] == [2]
    closed = PullRequestFact("closed", "o/r", 7, "https://github.com/o/r/pull/7", "fix-login", "Fix login", ())
    async with pool.acquire() as conn, conn.transaction():
        linked = await coding_requests.follow_pull_request(conn, closed)
    assert [(r.request_number, r.pr_status, r.status) for r in linked] == [(2, "closed", "in_review")]
    # A closed older pull request does not overwrite a newer one on the same branch.
    stale = PullRequestFact("closed", "o/r", 5, "https://github.com/o/r/pull/5", "fix-login", "Old", ())
    async with pool.acquire() as conn, conn.transaction():
        assert await coding_requests.follow_pull_request(conn, stale) == []
    assert await pool.fetchval("SELECT pr_status FROM coding_requests WHERE request_number = 1") is None


async def test_a_github_rate_limit_waits_as_long_as_github_asks(pool: asyncpg.Pool) -> None:
    await file_request(pool)
    await move(pool, 1, branch_name="byao1276-patch-1")
    await dispatch(pool, event("github", "pull_request", PR_MERGED))
    async with fake_github() as fake:
        fake.pulls[("ailisp/gcbapp-buildconfig-example", 3)] = Pull(files=[("app.py", "modified")])
        ctx = outbox.Context(
            pool=pool, config=Config(github_token=fake.token, github_api_url=fake.url), handlers=wire().outbox
        )
        fake.rate_limit(403, X_RateLimit_Remaining="0", X_RateLimit_Reset=str(int(time.time()) + 120))
        await outbox.deliver_due(ctx)
        row = await pool.fetchrow(
            "SELECT status, attempts, last_error, next_attempt_at - now() AS wait"
            " FROM outbox WHERE kind = 'github.pr_files'"
        )
        assert (row["status"], row["attempts"]) == ("pending", 0) and "rate limited (403)" in row["last_error"]
        assert 100 < row["wait"].total_seconds() <= 121
        fake.rate_limit(429, Retry_After="7")
        await pool.execute("UPDATE outbox SET next_attempt_at = now()")
        await outbox.deliver_due(ctx)
        wait = await pool.fetchval("SELECT next_attempt_at - now() FROM outbox WHERE kind = 'github.pr_files'")
        assert 5 < wait.total_seconds() <= 7
        await pool.execute("UPDATE outbox SET next_attempt_at = now()")
        await outbox.deliver_due(ctx)
    assert await pool.fetchval("SELECT files_to_modify FROM coding_requests") == ["app.py"]
