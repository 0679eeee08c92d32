"""Sentry issue actions, events of known issues, regressions and metric alerts, end to end.

Only issue ``created`` and ``resolved`` were recorded; Sentry sends the same issue object for the other
issue actions, so those deliveries are the recorded payloads with another ``action`` (sentry_variant).
No metric_alert delivery was recorded: that test builds one in the documented shape.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from tests.integration.webhooks.conftest import INCIDENTS_CHANNEL, World, fixture_bytes, sentry_variant

ISSUE = "1170820242"


async def snapshot(pool: asyncpg.Pool, sentry_issue_id: str) -> dict[str, Any]:
    """The end state of one Sentry issue, times reduced to set/unset."""
    incidents = await pool.fetch(
        "SELECT status, linear_issue_id IS NOT NULL AS linked, resolved_at IS NOT NULL AS resolved, incident_type"
        " FROM infrastructure_incidents WHERE sentry_issue_id = $1 ORDER BY created_at",
        sentry_issue_id,
    )
    fix = await pool.fetchrow(
        "SELECT acknowledged_at IS NOT NULL AS ack, fix_started_at IS NOT NULL AS started,"
        " fix_completed_at IS NOT NULL AS done, regression_occurred FROM fix_metrics WHERE sentry_issue_id = $1",
        sentry_issue_id,
    )
    mapping = await pool.fetchrow(
        "SELECT status, event_count FROM sentry_error_mappings WHERE sentry_issue_id = $1", sentry_issue_id
    )
    return {
        "incidents": [dict(r) for r in incidents],
        "fix": dict(fix) if fix else None,
        "mapping": dict(mapping) if mapping else None,
    }


async def created(world: World) -> None:
    assert (await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")).status == 200
    await world.drain()


async def test_assigned_acknowledges_and_replies_in_the_thread(world: World) -> None:
    await created(world)
    response = await world.send.sentry(sentry_variant("issue.created", "assigned"), "issue")
    assert response.status == 200
    incident = await world.pool.fetchrow("SELECT * FROM infrastructure_incidents")
    assert incident["status"] == "acknowledged"
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["acknowledged_at"] is not None
    assert fix["time_to_acknowledge"] == fix["acknowledged_at"] - fix["detected_at"]
    await world.drain()
    announcement, reply = world.slack.called("chat.postMessage")
    assert announcement.args.get("thread_ts") is None and announcement.args["blocks"]
    assert reply.args["channel"] == INCIDENTS_CHANNEL and reply.args["thread_ts"] == incident["slack_thread_ts"]
    assert "acknowledged" in reply.args["text"]


async def test_resolved_resolves_incident_and_mapping(world: World) -> None:
    await created(world)
    await world.send.sentry(sentry_variant("issue.created", "resolved"), "issue")
    incident = await world.pool.fetchrow("SELECT * FROM infrastructure_incidents")
    assert incident["status"] == "resolved" and incident["resolved_by"] == "Sentry"
    assert incident["resolved_at"] is not None and incident["time_to_resolve_ms"] is not None
    assert await world.pool.fetchval("SELECT status FROM sentry_error_mappings") == "resolved"
    await world.drain()
    assert "resolved" in world.slack.called("chat.postMessage")[-1].args["text"]


async def test_recorded_resolution_of_an_issue_never_seen(world: World) -> None:
    response = await world.send.sentry(fixture_bytes("sentry", "issue.resolved"), "issue")
    assert response.status == 200
    incident = await world.pool.fetchrow("SELECT * FROM infrastructure_incidents")
    assert incident["sentry_issue_id"] == "1638821441" and incident["status"] == "resolved"
    assert incident["resolved_by"] == "Hemanth V. Alluri"
    assert incident["affected_services"] == ["zulip-integration-testing"]
    await world.drain()
    # The Linear issue is still opened for the record, and the mapping starts resolved.
    assert await world.pool.fetchval("SELECT status FROM sentry_error_mappings") == "resolved"


async def test_ignored_and_archived_set_the_mapping_ignored(world: World) -> None:
    await created(world)
    await world.send.sentry(sentry_variant("issue.created", "ignored"), "issue")
    assert await world.pool.fetchval("SELECT status FROM sentry_error_mappings") == "ignored"
    assert await world.pool.fetchval("SELECT status FROM infrastructure_incidents") == "ignored"
    await world.send.sentry(sentry_variant("issue.resolved", "archived"), "issue")
    await world.drain()
    statuses = await world.pool.fetch("SELECT sentry_issue_id, status FROM sentry_error_mappings ORDER BY 1")
    assert [(r["sentry_issue_id"], r["status"]) for r in statuses] == [(ISSUE, "ignored"), ("1638821441", "ignored")]


async def test_error_event_of_a_known_issue_counts(world: World) -> None:
    await created(world)
    before = await world.pool.fetchrow("SELECT event_count, last_seen_at FROM sentry_error_mappings")
    response = await world.send.sentry(fixture_bytes("sentry", "error.created"), "error")
    assert response.status == 200
    after = await world.pool.fetchrow("SELECT * FROM sentry_error_mappings")
    assert after["event_count"] == before["event_count"] + 1 and after["status"] == "open"
    assert after["last_seen_at"] >= before["last_seen_at"]
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 1


async def test_event_alert_of_an_unknown_issue_opens_its_incident(world: World) -> None:
    """Defect 2: Sentry's documented event_alert.triggered example, about an issue never seen, opens the
    incident exactly as issue.created does: fix row, Linear issue, mapping, Slack announcement."""
    await created(world)
    response = await world.send.sentry(fixture_bytes("sentry", "event_alert.triggered"), "event_alert")
    assert response.status == 200
    incident = await world.pool.fetchrow("SELECT * FROM infrastructure_incidents WHERE sentry_issue_id = '1117540176'")
    assert incident["incident_type"] == "application_error" and incident["status"] == "detected"
    assert incident["title"] == "ReferenceError: heck is not defined" and incident["severity"] == "high"
    assert incident["affected_services"] == ["front-end"]
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics WHERE sentry_issue_id = '1117540176'")
    assert (
        fix["error_type"] == "ReferenceError" and fix["detected_at"].isoformat() == "2019-08-19T21:06:17.677000+00:00"
    )
    queued = await world.pool.fetch("SELECT kind FROM outbox WHERE payload ->> 'sentry_issue_id' = '1117540176'")
    assert [r["kind"] for r in queued] == ["linear.create_issue"]
    await world.drain()
    [_, create] = world.linear.called("issueCreate")
    assert create.variables["input"]["title"] == "[Sentry] ReferenceError: heck is not defined"
    mapping = await world.pool.fetchrow("SELECT * FROM sentry_error_mappings WHERE sentry_issue_id = '1117540176'")
    assert mapping["linear_issue_id"] == "ENG-2" and mapping["event_count"] == 1 and mapping["status"] == "open"
    texts = [c.args["text"] for c in world.slack.called("chat.postMessage")]
    assert any("heck is not defined" in t for t in texts)


async def test_new_event_after_resolution_is_a_regression(world: World) -> None:
    await created(world)
    await world.send.sentry(sentry_variant("issue.created", "resolved"), "issue")
    await world.drain()
    await world.send.sentry(fixture_bytes("sentry", "error.created"), "error")

    state = await snapshot(world.pool, ISSUE)
    assert state["mapping"] == {"status": "open", "event_count": 2}
    assert state["fix"]["regression_occurred"] is True
    assert [i["status"] for i in state["incidents"]] == ["resolved", "detected"]
    assert (
        await world.pool.fetchval(
            "SELECT linear_issue_id FROM infrastructure_incidents WHERE incident_type = 'regression'"
        )
        == "ENG-1"
    )
    assert state["incidents"][1]["incident_type"] == "regression"

    await world.drain()
    [update] = world.linear.called("issueUpdate")
    issue = world.linear.issue("ENG-1")
    assert issue is not None and update.variables["id"] == issue["id"]
    team = world.linear.teams["ENG"]
    assert update.variables["input"]["stateId"] == next(s["id"] for s in team["states"] if s["type"] == "unstarted")
    [comment] = world.linear.comments
    assert comment["issueId"] == issue["id"] and "Regression" in comment["body"]
    # The regression incident gets its own announcement (a new thread).
    new_ts = await world.pool.fetchval(
        "SELECT slack_thread_ts FROM infrastructure_incidents WHERE incident_type = 'regression'"
    )
    assert new_ts is not None


async def test_unresolved_after_resolution_is_a_regression(world: World) -> None:
    await created(world)
    await world.send.sentry(sentry_variant("issue.created", "resolved"), "issue")
    await world.send.sentry(sentry_variant("issue.created", "unresolved"), "issue")
    state = await snapshot(world.pool, ISSUE)
    assert state["mapping"]["status"] == "open" and state["fix"]["regression_occurred"] is True
    assert len(state["incidents"]) == 2
    await world.drain()
    assert len(world.linear.called("commentCreate")) == 1


async def test_out_of_order_resolve_before_assign_ends_the_same(world: World) -> None:
    in_order = ["created", "assigned", "resolved"]
    out_of_order = ["resolved", "created", "assigned"]
    for action in in_order:
        await world.send.sentry(sentry_variant("issue.created", action), "issue")
    for action in out_of_order:
        await world.send.sentry(sentry_variant("issue.resolved", action), "issue")
    await world.drain()
    first, second = await snapshot(world.pool, ISSUE), await snapshot(world.pool, "1638821441")
    assert first == second
    assert first["incidents"][0]["status"] == "resolved" and first["fix"]["ack"] is True
    assert first["mapping"]["status"] == "resolved"


async def test_out_of_order_assign_before_create_ends_the_same(world: World) -> None:
    for action in ["created", "assigned"]:
        await world.send.sentry(sentry_variant("issue.created", action), "issue")
    for action in ["assigned", "created"]:
        await world.send.sentry(sentry_variant("issue.resolved", action), "issue")
    await world.drain()
    assert await snapshot(world.pool, ISSUE) == await snapshot(world.pool, "1638821441")
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 2
    assert len(world.linear.called("issueCreate")) == 2


def metric_alert(action: str, started: str = "2024-01-01T00:00:00Z") -> bytes:
    """A metric alert delivery in the shape Sentry documents (none was recorded)."""
    payload = {
        "action": action,
        "installation": {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"},
        "data": {
            "metric_alert": {
                "id": "7",
                "alert_rule": {"name": "p95 latency", "projects": ["front-end"]},
                "title": "p95 latency above 2s",
                "date_started": started,
            },
            "description_text": "p95(transaction.duration) 2450ms",
            "description_title": f"{action.title()}: p95 latency above 2s",
            "web_url": "https://sentry.io/organizations/test-org/alerts/rules/details/7/",
        },
        "actor": {"type": "application", "id": "sentry", "name": "Sentry"},
    }
    return json.dumps(payload, separators=(",", ":")).encode()


async def test_metric_alert_opens_updates_and_resolves(world: World) -> None:
    assert (await world.send.sentry(metric_alert("warning"), "metric_alert")).status == 200
    incident = await world.pool.fetchrow("SELECT * FROM infrastructure_incidents")
    assert incident["incident_type"] == "metric_alert" and incident["severity"] == "medium"
    assert incident["source_id"] == "metric_alert:7" and incident["affected_services"] == ["front-end"]
    await world.send.sentry(metric_alert("critical"), "metric_alert")
    rows = await world.pool.fetch("SELECT severity, status FROM infrastructure_incidents")
    assert [tuple(r) for r in rows] == [("critical", "detected")]
    await world.send.sentry(metric_alert("resolved"), "metric_alert")
    rows = await world.pool.fetch("SELECT severity, status FROM infrastructure_incidents")
    assert [tuple(r) for r in rows] == [("critical", "resolved")]
    # Firing again after it resolved starts a new alert period (a new date_started, so a new body).
    await world.send.sentry(metric_alert("critical", started="2024-01-01T06:00:00Z"), "metric_alert")
    assert await world.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 2
