"""Linear Issue deliveries for known identifiers: applied from the issue's current state, echoes of the
service's own changes recognised, unknown identifiers left alone.

Recorded: an Issue create (WEB-43, Todo) and an Issue update (WEB-44, In Progress, assigned), both older
payloads without ``identifier``. Completed/canceled states were not recorded: ``state_variant`` is the
recorded update with another state, as Linear sends the same issue object.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.webhooks.conftest import World, fixture_bytes, linear_body, sentry_variant


async def known(world: World, number: int) -> None:
    """A Sentry issue whose Linear issue is WEB-{number}."""
    world.linear.add_team("WEB", next_number=number)
    await world.pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'linear.routing'",
        {"sentry_projects": {"front-end": "WEB"}},
    )
    await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")
    await world.drain()
    assert await world.pool.fetchval("SELECT linear_issue_id FROM sentry_error_mappings") == f"WEB-{number}"


def state_variant(state_type: str, name: str, **data: object) -> bytes:
    payload = json.loads(fixture_bytes("linear", "issue.update"))
    payload["data"]["state"].update(type=state_type, name=name)
    payload["data"].update(data)
    payload["webhookTimestamp"] = int(time.time() * 1000)
    return json.dumps(payload, separators=(",", ":")).encode()


async def test_update_of_a_known_issue_acknowledges_and_starts_the_fix(world: World) -> None:
    await known(world, 44)
    response = await world.send.linear(linear_body("issue.update"))
    assert response.status == 200
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["fix_started_at"].isoformat() == "2023-04-11T10:10:15.093000+00:00"
    assert fix["acknowledged_at"] == fix["fix_started_at"]
    assert fix["time_to_fix_start"] == fix["fix_started_at"] - fix["detected_at"]
    assert fix["time_to_acknowledge"] == fix["acknowledged_at"] - fix["detected_at"]
    assert await world.pool.fetchval("SELECT status FROM infrastructure_incidents") == "acknowledged"
    assert await world.pool.fetchval("SELECT status FROM sentry_error_mappings") == "open"
    # Applying it again (a redelivery under a new id) changes nothing.
    timeline = "SELECT acknowledged_at, fix_started_at, fix_completed_at, time_to_fix_start FROM fix_metrics"
    before = await world.pool.fetchrow(timeline)
    await world.send.linear(linear_body("issue.update"))
    assert await world.pool.fetchrow(timeline) == before


async def test_create_of_a_known_issue_out_of_triage_acknowledges(world: World) -> None:
    await known(world, 43)
    response = await world.send.linear(linear_body("issue.create"))
    assert response.status == 200
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["acknowledged_at"].isoformat() == "2023-04-11T09:59:47.094000+00:00"
    assert fix["fix_started_at"] is None


async def test_unknown_identifier_changes_nothing(world: World) -> None:
    await known(world, 1)
    response = await world.send.linear(linear_body("issue.update"))
    assert response.status == 200
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["acknowledged_at"] is None and fix["fix_started_at"] is None
    assert await world.pool.fetchval("SELECT status FROM webhook_deliveries WHERE source = 'linear'") == "processed"


async def test_echo_of_our_own_create_is_not_applied(world: World) -> None:
    # Linear stamps our issueCreate with the updatedAt its webhook then carries.
    world.linear.next_updated_at.append("2023-04-11T09:59:47.094Z")
    await known(world, 43)
    await world.send.linear(linear_body("issue.create"))
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["acknowledged_at"] is None
    assert await world.pool.fetchval("SELECT count(*) FROM linear_own_changes WHERE identifier = 'WEB-43'") == 1


async def test_echo_of_our_own_reopen_does_not_loop(world: World) -> None:
    await known(world, 44)
    await world.send.sentry(sentry_variant("issue.created", "resolved"), "issue")
    await world.send.sentry(sentry_variant("issue.created", "unresolved"), "issue")
    world.linear.next_updated_at.append("2023-04-11T10:16:53.022Z")
    await world.drain()
    assert len(world.linear.called("issueUpdate")) == 1
    await world.send.linear(linear_body("issue.update"))
    await world.drain()
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["fix_started_at"] is None
    assert len(world.linear.called("issueUpdate")) == 1 and len(world.linear.comments) == 1


async def test_completed_completes_the_fix_and_resolves_the_mapping(world: World) -> None:
    await known(world, 44)
    await world.send.linear(state_variant("completed", "Done", completedAt="2023-04-12T08:00:00.000Z"))
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["fix_completed_at"].isoformat() == "2023-04-12T08:00:00+00:00"
    assert fix["fix_method"] == "linear" and fix["fix_successful"] is True
    assert fix["time_to_resolution"] == fix["fix_completed_at"] - fix["detected_at"]
    assert await world.pool.fetchval("SELECT status FROM sentry_error_mappings") == "resolved"


async def test_merge_wins_over_linear_completion_in_any_order(world: World) -> None:
    await known(world, 44)
    payload = json.loads(fixture_bytes("github", "pull_request.closed.merged"))
    payload["pull_request"]["title"] = "Fix WEB-44"
    merged = json.dumps(payload).encode()
    done = state_variant("completed", "Done", completedAt="2023-04-12T08:00:00.000Z")
    await world.send.linear(done)
    await world.send.github(merged, "pull_request")
    first = await world.pool.fetchrow("SELECT fix_completed_at, fix_method, commit_sha FROM fix_metrics")
    assert first["fix_method"] == "pull_request" and first["commit_sha"].startswith("a2168386")
    await world.send.linear(state_variant("completed", "Done", completedAt="2023-04-12T08:00:00.000Z"))
    assert await world.pool.fetchrow("SELECT fix_completed_at, fix_method, commit_sha FROM fix_metrics") == first


async def test_canceled_ignores_the_mapping(world: World) -> None:
    await known(world, 44)
    await world.send.linear(state_variant("canceled", "Canceled", canceledAt="2023-04-12T08:00:00.000Z"))
    assert await world.pool.fetchval("SELECT status FROM sentry_error_mappings") == "ignored"


async def test_missed_deliveries_are_healed_by_the_current_state(world: World) -> None:
    """The create and the move to started were never delivered: the one update sets everything."""
    await known(world, 44)
    await world.send.linear(state_variant("completed", "Done", completedAt="2023-04-12T08:00:00.000Z"))
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["acknowledged_at"] is not None and fix["fix_started_at"] is not None
    assert fix["fix_completed_at"] is not None


def create_variant() -> bytes:
    """The Issue create of WEB-44 (not recorded: the recorded update's issue object, action create, in Todo)."""
    payload = json.loads(fixture_bytes("linear", "issue.update"))
    payload["action"] = "create"
    payload.pop("updatedFrom")
    payload["data"]["state"].update(type="unstarted", name="Todo")
    payload["data"].pop("startedAt")
    payload["webhookTimestamp"] = int(time.time() * 1000)
    return json.dumps(payload, separators=(",", ":")).encode()


@pytest.mark.parametrize("order", ["create_then_update", "update_then_create"])
async def test_update_before_create_ends_in_the_same_state(world: World, order: str) -> None:
    await known(world, 44)
    bodies = [create_variant(), linear_body("issue.update")]
    for body in bodies if order == "create_then_update" else reversed(bodies):
        assert (await world.send.linear(body)).status == 200
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    started = "2023-04-11T10:10:15.093000+00:00"
    assert fix["acknowledged_at"].isoformat() == started and fix["fix_started_at"].isoformat() == started
    assert fix["fix_completed_at"] is None
    assert await world.pool.fetchval("SELECT status FROM infrastructure_incidents") == "acknowledged"
    assert await world.pool.fetchval("SELECT status FROM sentry_error_mappings") == "open"
