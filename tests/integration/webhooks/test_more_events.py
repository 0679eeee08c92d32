"""Events stored before but not acted on (issue 12), each from the corpus payload to the rows and the
outbound calls. The corpus holds successes of check runs, statuses and deployments; their failures are the
same objects with another state and an older id, as GitHub sends them. No IssueSLA delivery was recorded
anywhere public: that one is built in the shape of Linear's webhook schema (IssueSlaWebhookPayload)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from domain.incidents import fix_events
from tests.conftest import rows_read
from tests.integration.webhooks.conftest import World, corpus_bytes, fixture_bytes, linear_now
from tests.integration.webhooks.test_linear import known


def corpus_variant(source: str, name: str, change: Any) -> bytes:
    payload = json.loads(corpus_bytes(source, name))
    change(payload)
    return json.dumps(payload, separators=(",", ":")).encode()


async def incident_rows(world: World) -> list[dict[str, Any]]:
    return [dict(r) for r in await world.pool.fetch("SELECT * FROM infrastructure_incidents ORDER BY incident_number")]


async def test_check_run_failure_on_the_default_branch_opens_and_the_next_success_resolves(world: World) -> None:
    def failing(p: dict[str, Any]) -> None:
        p["check_run"].update(id=128620100, conclusion="failure")
        p["check_run"]["check_suite"]["head_branch"] = "master"

    def passing(p: dict[str, Any]) -> None:
        p["check_run"]["check_suite"]["head_branch"] = "master"

    body = corpus_variant("github", "check_run.completed.payload", failing)
    assert (await world.send.github(body, "check_run")).status == 200
    [incident] = await incident_rows(world)
    assert incident["incident_type"] == "ci_failure" and incident["source_id"] == (
        "Codertocat/Hello-World:Octocoders-linter:master"
    )
    await world.send.github(corpus_variant("github", "check_run.completed.payload", passing), "check_run")
    [incident] = await incident_rows(world)
    assert incident["status"] == "resolved"
    await world.drain()
    assert "CI failing" in world.slack.called("chat.postMessage")[0].args["text"]
    # The recorded failing check run is of GitHub Actions: workflow_run reports it, so it opens nothing here.
    await world.send.github(corpus_variant("github", "check_run.completed.1.payload", passing), "check_run")
    assert len(await incident_rows(world)) == 1


async def test_failing_commit_status_opens_and_the_recorded_success_resolves(world: World) -> None:
    failing = corpus_variant("github", "status.payload", lambda p: p.update(state="error", id=6805126000))
    await world.send.github(failing, "status")
    [incident] = await incident_rows(world)
    assert incident["source_id"] == "Codertocat/Hello-World:default:master" and incident["status"] == "detected"
    await world.send.github(corpus_bytes("github", "status.payload"), "status")
    assert [i["status"] for i in await incident_rows(world)] == ["resolved"]


async def test_failed_deployment_opens_a_deploy_failure_and_the_next_success_resolves(world: World) -> None:
    def failed(p: dict[str, Any]) -> None:
        p["deployment_status"].update(state="failure", id=p["deployment_status"]["id"] - 1)

    await world.send.github(corpus_variant("github", "deployment_status.payload", failed), "deployment_status")
    [incident] = await incident_rows(world)
    assert incident["incident_type"] == "deploy_failure" and incident["severity"] == "high"
    assert incident["source_id"] == "deploy:Codertocat/Hello-World:production"
    assert incident["error_details"]["sha"].startswith("f95f852")
    assert await world.pool.fetchval("SELECT error_type FROM fix_metrics") == "deploy_failure"
    await world.send.github(corpus_bytes("github", "deployment_status.payload"), "deployment_status")
    [incident] = await incident_rows(world)
    assert incident["status"] == "resolved"
    assert await world.pool.fetchval("SELECT commit_sha FROM fix_metrics") == incident["error_details"]["sha"]


async def test_secret_scanning_alert_is_critical_resolved_and_reopened(world: World) -> None:
    created = corpus_variant("github", "secret_scanning_alert.reopened.payload", lambda p: p.update(action="created"))
    await world.send.github(created, "secret_scanning_alert")
    [incident] = await incident_rows(world)
    assert incident["incident_type"] == "security_alert" and incident["severity"] == "critical"
    resolved = corpus_variant("github", "secret_scanning_alert.reopened.payload", lambda p: p.update(action="resolved"))
    await world.send.github(resolved, "secret_scanning_alert")
    await world.send.github(corpus_bytes("github", "secret_scanning_alert.reopened.payload"), "secret_scanning_alert")
    rows = await incident_rows(world)
    assert [r["status"] for r in rows] == ["resolved", "detected"]
    assert rows[1]["error_details"]["reopened_from"] == str(rows[0]["id"])


async def test_dependabot_and_code_scanning_alerts_take_their_severity(world: World) -> None:
    await world.send.github(corpus_bytes("github", "dependabot_alert.created.payload"), "dependabot_alert")
    await world.send.github(corpus_bytes("github", "code_scanning_alert.created.payload"), "code_scanning_alert")
    rows = await incident_rows(world)
    assert [(r["severity"], r["status"]) for r in rows] == [("medium", "detected"), ("high", "detected")]
    fixed = corpus_variant("github", "dependabot_alert.created.payload", lambda p: p.update(action="fixed"))
    await world.send.github(fixed, "dependabot_alert")
    await world.send.github(corpus_bytes("github", "code_scanning_alert.fixed.payload"), "code_scanning_alert")
    assert [r["status"] for r in await incident_rows(world)] == ["resolved", "resolved"]
    await world.send.github(corpus_bytes("github", "code_scanning_alert.reopened.payload"), "code_scanning_alert")
    assert [r["status"] for r in await incident_rows(world)] == ["resolved", "resolved", "detected"]


async def test_sentry_comment_is_mirrored_to_the_thread_and_linear_not_an_integrations(world: World) -> None:
    await world.send.sentry(corpus_bytes("sentry", "issue.created.ipe"), "issue")
    await world.drain()
    assert (await world.send.sentry(corpus_bytes("sentry", "comment.created.ipe"), "comment")).status == 200
    await world.drain()
    assert "this is a test comment" in world.slack.called("chat.postMessage")[-1].args["text"]
    [comment] = world.linear.comments
    assert comment["issueId"] == world.linear.issue("ENG-1")["id"] and "this is a test comment" in comment["body"]  # type: ignore[index]
    by_app = corpus_variant("sentry", "comment.updated.ipe", lambda p: p["actor"].update(type="application"))
    await world.send.sentry(by_app, "comment")
    await world.drain()
    assert len(world.linear.comments) == 1


async def test_sentry_installation_is_recorded_and_a_deletion_shown_by_readyz(world: World) -> None:
    await world.send.sentry(corpus_bytes("sentry", "installation.created.ipe"), "installation")
    assert await world.pool.fetchval("SELECT status FROM sentry_installations") == "installed"
    await world.send.sentry(corpus_bytes("sentry", "installation.deleted.ipe"), "installation")
    assert await world.pool.fetchval("SELECT status FROM sentry_installations") == "deleted"
    deadline = time.monotonic() + 10  # /readyz's database checks run in the background, every second
    while "sentry_installations_deleted" not in (ready := await (await world.client.get("/readyz")).json()):
        assert time.monotonic() < deadline, ready
        await asyncio.sleep(0.05)
    assert ready["sentry_installations_deleted"][0]["uuid"] == "7a485448-a9e2-4c85-8a3c-4f44175783c9"


async def test_seer_root_cause_and_pr_are_the_incidents_notes_and_fix(world: World) -> None:
    await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")
    await world.drain()
    await world.send.sentry(corpus_bytes("sentry", "seer.root_cause_completed.sentry-docs"), "seer")
    await world.send.sentry(corpus_bytes("sentry", "seer.pr_created.sentry-docs"), "seer")
    incident = await world.pool.fetchrow("SELECT * FROM infrastructure_incidents")
    assert incident["error_details"]["root_cause"]["text"] == "Woah wow there's a bug here."
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["github_pr_url"] == "https://github.com/owner/repo/pull/123" and fix["fix_method"] == "seer"
    assert fix["fix_started_at"] is not None and "bug here" in fix["notes"]
    await world.drain()
    await world.make_due()  # thread replies go out in order: the second waited for the first
    await world.drain()
    texts = [c.args["text"] for c in world.slack.called("chat.postMessage")]
    assert any("Seer opened a fix" in t for t in texts) and any("Root cause" in t for t in texts), texts


async def test_linear_comment_on_a_mapped_issue_is_mirrored_but_not_our_own(world: World) -> None:
    await known(world, 46)
    comment = linear_now(corpus_bytes("linear", "Comment.create.zulip"))
    assert (await world.send.linear(comment, event="Comment")).status == 200
    await world.drain()
    assert "Satyam Bansal commented in Linear" in world.slack.called("chat.postMessage")[-1].args["text"]
    posted = len(world.slack.called("chat.postMessage"))
    await fix_events.record_own_comment(world.pool, "c7cafc52-994d-4984-a217-bff9f9aa9473")
    await world.send.linear(linear_now(corpus_bytes("linear", "Comment.create.zulip")), event="Comment")
    await world.drain()
    assert len(world.slack.called("chat.postMessage")) == posted


def issue_sla(action: str) -> bytes:
    issue = json.loads(fixture_bytes("linear", "issue.update"))["data"]
    payload = {
        "action": action,
        "type": "IssueSLA",
        "createdAt": "2023-04-12T08:00:00.000Z",
        "issueData": issue,
        "url": "https://linear.app/webhooks/issue/WEB-44",
        "organizationId": "7a661544-df08-4cd1-a1e3-5ec611898806",
        "webhookTimestamp": int(time.time() * 1000),
    }
    return json.dumps(payload, separators=(",", ":")).encode()


async def test_linear_sla_breach_raises_the_severity_once(world: World) -> None:
    await known(world, 44)
    await world.send.linear(issue_sla("highRisk"), event="IssueSLA")
    assert await world.pool.fetchval("SELECT severity FROM infrastructure_incidents") == "high"
    for _ in range(2):
        assert (await world.send.linear(issue_sla("breached"), event="IssueSLA")).status == 200
    assert await world.pool.fetchval("SELECT severity FROM infrastructure_incidents") == "critical"
    await world.drain()
    assert "severity raised high -> critical" in world.slack.called("chat.postMessage")[-1].args["text"]


async def test_known_teams_come_from_mappings_fix_rows_and_routing_by_index_not_by_reading_every_row(
    world: World,
) -> None:
    """A pull request asks which Linear team keys exist; with thousands of fix rows the answer reads a few
    index entries per distinct key, not every row (it read all 6,000 here, for every pull request)."""
    await world.pool.execute(
        "INSERT INTO fix_metrics (error_type, team_key) SELECT 'KeyError', (ARRAY['ENG', 'OPS', NULL])[1 + g % 3]"
        " FROM generate_series(1, 6000) g"
    )
    await world.pool.execute(
        "INSERT INTO sentry_error_mappings (sentry_issue_id, linear_issue_id, error_type, team_key)"
        " VALUES ('s-1', 'MOB-1', 'KeyError', 'MOB')"
    )
    await world.pool.execute(
        'UPDATE agent_swarm_config SET config_value = \'{"sentry_projects": {"web": "WEB"}}\''
        " WHERE config_key = 'linear.routing'"
    )
    async with world.pool.acquire() as conn, conn.transaction():
        before = await rows_read(conn, "sentry_error_mappings", "fix_metrics")
        teams = await fix_events.known_teams(conn)
        read = await rows_read(conn, "sentry_error_mappings", "fix_metrics") - before
    assert teams == {"ENG", "OPS", "MOB", "WEB"}
    assert read < 50, f"{read} rows read for 4 team keys"
