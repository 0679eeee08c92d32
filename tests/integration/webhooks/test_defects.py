"""Issue 12's defects 1-8 and issue 10's unordered CI runs, each from the recorded payload to the rows and
the outbound calls. Variants change only what the recorded deliveries could not show (another run id, a
fork, another state), as the senders send the same objects."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from domain.coding_requests import store as coding_requests
from domain.coding_requests.rules import NewRequest
from domain.metrics import analytics
from tests.integration.webhooks.conftest import (
    World,
    corpus_bytes,
    fixture_bytes,
    linear_now,
    sentry_variant,
)
from tests.integration.webhooks.test_linear import known, state_variant


def variant(source: str, name: str, change: Any) -> bytes:
    payload = json.loads(fixture_bytes(source, name))
    change(payload)
    return json.dumps(payload, separators=(",", ":")).encode()


async def test_1_event_alert_naming_its_issue_only_in_issue_url_is_processed_and_counted(world: World) -> None:
    body = corpus_bytes("sentry", "event_alert.triggered.zulip.message-golang")
    assert (await world.send.sentry(body, "event_alert")).status == 200
    assert await world.pool.fetchval("SELECT status FROM webhook_deliveries") == "processed"
    incident = await world.pool.fetchrow("SELECT * FROM infrastructure_incidents")
    assert incident["sentry_issue_id"] == "1638844654" and incident["affected_services"] == [
        "zulip-integration-testing"
    ]
    await world.drain()
    assert await world.pool.fetchval("SELECT event_count FROM sentry_error_mappings") == 1
    # A second event of the same issue: another event id (the same bytes again would be a replay).
    again = json.loads(body)
    again["data"]["event"]["event_id"] = "02ecb45633bc4f5ca940ada671124c8f"
    second = json.dumps(again, separators=(",", ":")).encode()
    assert (await world.send.sentry(second, "event_alert")).status == 200
    assert await world.pool.fetchval("SELECT event_count FROM sentry_error_mappings") == 2


async def test_3_merge_mitigates_and_linear_completion_resolves(world: World) -> None:
    await known(world, 44)
    merged = variant("github", "pull_request.closed.merged", lambda p: p["pull_request"].update(title="Fix WEB-44"))
    assert (await world.send.github(merged, "pull_request")).status == 200
    incident = await world.pool.fetchrow("SELECT * FROM infrastructure_incidents")
    assert incident["status"] == "mitigating" and incident["time_to_mitigate_ms"] is not None
    [step] = incident["resolution_steps"]
    assert step["pr_url"] == "https://github.com/ailisp/gcbapp-buildconfig-example/pull/3"
    assert step["commit_sha"] == "a21683865c088b5fe1906cf6552d15a285a4986d"
    assert await world.pool.fetchval("SELECT status FROM sentry_error_mappings") == "open"
    await world.drain()
    assert "being mitigated" in world.slack.called("chat.postMessage")[-1].args["text"]
    await world.send.linear(state_variant("completed", "Done", completedAt="2023-04-12T08:00:00.000Z"))
    incident = await world.pool.fetchrow("SELECT * FROM infrastructure_incidents")
    assert incident["status"] == "resolved" and incident["resolved_by"] == "linear"


async def test_4_a_forks_run_on_its_own_default_branch_opens_nothing(world: World) -> None:
    fork = variant(
        "github", "workflow_run.failure", lambda p: p["workflow_run"]["head_repository"].update(full_name="x/pytorch")
    )
    assert (await world.send.github(fork, "workflow_run")).status == 200
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 0
    await world.send.github(fixture_bytes("github", "workflow_run.failure"), "workflow_run")
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 1


async def test_5_a_web_edit_branch_names_no_linear_issue_of_an_unknown_team(world: World) -> None:
    # ENG is known (routing); the recorded merged PR's branch "byao1276-patch-1" must not read as PATCH-1.
    await known(world, 1)
    await world.pool.execute("UPDATE fix_metrics SET linear_issue_id = 'PATCH-1', team_key = 'WEB'")
    await world.pool.execute("UPDATE sentry_error_mappings SET linear_issue_id = 'PATCH-1', team_key = 'WEB'")
    await world.pool.execute("UPDATE infrastructure_incidents SET linear_issue_id = 'PATCH-1'")
    await world.send.github(fixture_bytes("github", "pull_request.closed.merged"), "pull_request")
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["fix_completed_at"] is None and fix["github_pr_url"] is None
    assert await world.pool.fetchval("SELECT status FROM infrastructure_incidents") == "detected"


async def test_6_deleted_linear_issue_unlinks_and_the_next_regression_opens_a_new_one(world: World) -> None:
    await known(world, 44)
    removed = linear_now(corpus_bytes("linear", "Issue.remove.zulip"))
    assert (await world.send.linear(removed)).status == 200
    assert await world.pool.fetchval("SELECT status FROM sentry_error_mappings") == "unlinked"
    await world.drain()
    assert "WEB-44 was deleted" in world.slack.called("chat.postMessage")[-1].args["text"]
    await world.send.sentry(sentry_variant("issue.created", "resolved"), "issue")
    assert await world.pool.fetchval("SELECT status FROM sentry_error_mappings") == "unlinked"
    await world.send.sentry(fixture_bytes("sentry", "error.created"), "error")
    await world.drain()
    assert len(world.linear.called("issueCreate")) == 2 and not world.linear.called("issueUpdate")
    mapping = await world.pool.fetchrow("SELECT * FROM sentry_error_mappings")
    assert mapping["linear_issue_id"] == "WEB-45" and mapping["status"] == "open"
    regression = await world.pool.fetchrow("SELECT * FROM infrastructure_incidents WHERE incident_type = 'regression'")
    assert regression["linear_issue_id"] == "WEB-45" and regression["status"] == "detected"


async def test_7_a_run_delivered_by_two_hooks_counts_once(world: World) -> None:
    body = fixture_bytes("github", "workflow_run.failure")
    for _ in range(2):  # an organisation hook and a repository hook: two deliveries of one run
        assert (await world.send.github(body, "workflow_run")).status == 200
    rerun = variant("github", "workflow_run.failure", lambda p: p["workflow_run"].update(run_attempt=2))
    await world.send.github(rerun, "workflow_run")
    start = analytics.period_start(datetime.now(UTC), 7)
    row = await analytics.compute(world.pool, start, 7)
    assert row["ci_runs"] == 2 and row["ci_failures"] == 2


async def test_8_duplicate_filings_burn_no_request_number(world: World) -> None:
    async with world.pool.acquire() as conn:
        first, created = await coding_requests.create(conn, NewRequest("slack", "C1:1", "First"))
        again, created_again = await coding_requests.create(conn, NewRequest("slack", "C1:1", "First"))
        second, _ = await coding_requests.create(conn, NewRequest("slack", "C1:2", "Second"))
    assert created and not created_again and again.request_number == first.request_number
    assert (first.request_number, second.request_number) == (1, 2)


def run(run_id: int, conclusion: str, attempt: int = 1) -> bytes:
    return variant(
        "github",
        "workflow_run.failure",
        lambda p: p["workflow_run"].update(id=run_id, conclusion=conclusion, run_attempt=attempt),
    )


async def test_runs_are_ordered_by_id_and_attempt_not_by_arrival(world: World) -> None:
    """Issue 10: the green run delivered before the older red one leaves no incident open."""
    await world.send.github(run(3206737500, "success"), "workflow_run")
    await world.send.github(run(3206737417, "failure"), "workflow_run")
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 0
    # A failure, then the same run re-run green (attempt 2): resolved; the late attempt 1 changes nothing.
    await world.send.github(run(3206737600, "failure"), "workflow_run")
    await world.send.github(run(3206737600, "success", attempt=2), "workflow_run")
    await world.send.github(run(3206737600, "failure"), "workflow_run")
    assert [r["status"] for r in await world.pool.fetch("SELECT status FROM infrastructure_incidents")] == ["resolved"]
