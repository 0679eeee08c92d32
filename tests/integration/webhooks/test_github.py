"""GitHub workflow runs -> ci_failure incidents; pull requests -> the fix timeline; ping.

Recorded: one failing run (clee2000/pytorch, on its default branch) and one successful run of another
repository. A second failure and the recovering success of the SAME key were not recorded; they are the
recorded failure with another run id / conclusion (``run_variant``), as GitHub sends the same object.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from domain.incidents.store import KEPT_RUNS
from tests.integration.webhooks.conftest import World, fixture_bytes

KEY = "clee2000/pytorch:rebase:master"


def run_variant(**changes: Any) -> bytes:
    payload = json.loads(fixture_bytes("github", "workflow_run.failure"))
    payload["workflow_run"].update(changes)
    return json.dumps(payload, separators=(",", ":")).encode()


async def test_failure_on_the_default_branch_opens_a_ci_incident(world: World) -> None:
    response = await world.send.github(fixture_bytes("github", "workflow_run.failure"), "workflow_run")
    assert response.status == 200
    incident = await world.pool.fetchrow("SELECT * FROM infrastructure_incidents")
    assert incident["incident_type"] == "ci_failure" and incident["source"] == "github"
    assert incident["source_id"] == KEY and incident["github_workflow_run_id"] == "3206737417"
    assert incident["affected_services"] == ["clee2000/pytorch"] and incident["status"] == "detected"
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["error_type"] == "ci_failure" and fix["metadata"]["incident_id"] == str(incident["id"])
    assert fix["detected_at"].isoformat() == "2022-10-07T18:06:21+00:00"
    await world.drain()
    assert "CI failing" in world.slack.called("chat.postMessage")[0].args["text"]


async def test_further_failures_append_then_success_resolves(world: World) -> None:
    await world.send.github(fixture_bytes("github", "workflow_run.failure"), "workflow_run")
    await world.send.github(run_variant(id=3206737999, updated_at="2022-10-07T19:00:00Z"), "workflow_run")
    rows = await world.pool.fetch("SELECT * FROM infrastructure_incidents")
    assert len(rows) == 1
    assert [r["run_id"] for r in rows[0]["error_details"]["runs"]] == ["3206737417", "3206737999"]
    assert rows[0]["github_workflow_run_id"] == "3206737999"

    success = run_variant(id=3206738000, conclusion="success", updated_at="2022-10-07T20:06:21Z")
    assert (await world.send.github(success, "workflow_run")).status == 200
    incident = await world.pool.fetchrow("SELECT * FROM infrastructure_incidents")
    assert incident["status"] == "resolved" and incident["resolved_by"] == "github"
    assert incident["resolved_at"] is not None and incident["time_to_resolve_ms"] is not None
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["fix_completed_at"].isoformat() == "2022-10-07T20:06:21+00:00" and fix["fix_successful"] is True
    assert fix["time_to_resolution"] == fix["fix_completed_at"] - fix["detected_at"]

    # The next failure after the recovery opens a new incident.
    await world.send.github(run_variant(id=3206738001), "workflow_run")
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents WHERE status = 'detected'") == 1


async def test_an_incident_lists_its_newest_runs_only(world: World) -> None:
    """A CI key red for days: its incident keeps the newest runs (it grew by one on every run, and every run
    rewrote all of them)."""
    first = 3206737417
    for n in range(KEPT_RUNS + 5):
        await world.send.github(run_variant(id=first + n), "workflow_run")
    details = await world.pool.fetchval("SELECT error_details FROM infrastructure_incidents")
    assert [r["run_id"] for r in details["runs"]] == [str(first + n) for n in range(5, KEPT_RUNS + 5)]
    assert details["repository"] == "clee2000/pytorch"


async def test_runs_off_the_default_branch_open_nothing_but_are_counted(world: World) -> None:
    await world.send.github(run_variant(id=1, head_branch="feature/x"), "workflow_run")
    await world.send.github(fixture_bytes("github", "workflow_run.success"), "workflow_run")
    await world.send.github(fixture_bytes("github", "workflow_run.failure"), "workflow_run")
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 1
    runs = await world.pool.fetch("SELECT * FROM github_workflow_runs ORDER BY delivery_id")
    assert [(r["repository"], r["branch"], r["conclusion"], r["on_default_branch"]) for r in runs] == [
        ("clee2000/pytorch", "feature/x", "failure", False),
        ("octo-org/octo-repo", "master", "success", True),
        ("clee2000/pytorch", "master", "failure", True),
    ]
    assert [r["workflow"] for r in runs] == ["rebase", "test", "rebase"]


async def known_fix(world: World, team: str, number: int) -> str:
    """A Sentry issue whose Linear issue is ``{team}-{number}`` (the routing setting sends it there)."""
    world.linear.add_team(team, next_number=number)
    await world.pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'linear.routing'",
        {"sentry_projects": {"front-end": team}},
    )
    await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")
    await world.drain()
    identifier: str = await world.pool.fetchval("SELECT linear_issue_id FROM fix_metrics")
    assert identifier == f"{team}-{number}"
    return identifier


async def test_merged_pull_request_naming_the_issue_completes_the_fix(world: World) -> None:
    # The recorded merged PR's branch is "byao1276-patch-1": it names PATCH-1.
    await known_fix(world, "PATCH", 1)
    response = await world.send.github(fixture_bytes("github", "pull_request.closed.merged"), "pull_request")
    assert response.status == 200
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    pr = await world.pool.fetchrow("SELECT * FROM github_pull_request_events")
    assert pr["action"] == "closed" and pr["merged"] is True and pr["number"] == 3
    assert fix["fix_completed_at"].isoformat() == "2019-11-26T07:01:13+00:00"
    assert fix["commit_sha"] == "a21683865c088b5fe1906cf6552d15a285a4986d"
    assert fix["fix_successful"] is True and fix["fix_method"] == "pull_request"
    assert fix["github_pr_url"] == "https://github.com/ailisp/gcbapp-buildconfig-example/pull/3"
    assert fix["fix_started_at"].isoformat() == "2019-11-13T01:28:51+00:00"
    for stamp, interval in (
        ("acknowledged_at", "time_to_acknowledge"),
        ("fix_started_at", "time_to_fix_start"),
        ("fix_completed_at", "time_to_resolution"),
    ):
        assert fix[interval] == fix[stamp] - fix["detected_at"], interval


async def test_opened_pull_request_without_identifiers_changes_nothing(world: World) -> None:
    await known_fix(world, "ENG", 1)
    response = await world.send.github(fixture_bytes("github", "pull_request.opened"), "pull_request")
    assert response.status == 200
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["fix_started_at"] is None and fix["github_pr_url"] is None


@pytest.mark.parametrize("where", ["branch", "title", "body"])
async def test_opened_pull_request_naming_the_issue_starts_the_fix(world: World, where: str) -> None:
    # The recorded opened PR names no Linear issue; here it does (in its branch, title or body).
    await known_fix(world, "ENG", 7)
    payload = json.loads(fixture_bytes("github", "pull_request.opened"))
    pr = payload["pull_request"]
    if where == "branch":
        pr["head"]["ref"] = "alice/eng-7-fix-readme"
    elif where == "title":
        pr["title"] = "Fix ENG-7: README"
    else:
        pr["body"] = "Closes ENG-7"
    await world.send.github(json.dumps(payload).encode(), "pull_request")
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["fix_started_at"].isoformat() == "2019-05-15T15:20:33+00:00"
    assert fix["github_pr_url"] == "https://github.com/Codertocat/Hello-World/pull/2"
    assert fix["time_to_fix_start"] == fix["fix_started_at"] - fix["detected_at"]
    assert fix["fix_completed_at"] is None
