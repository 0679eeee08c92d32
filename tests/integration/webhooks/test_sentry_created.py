"""Sentry issue created, end to end: incident, fix row, Linear issue, mapping, Slack announcement."""

from __future__ import annotations

from tests.integration.webhooks.conftest import INCIDENTS_CHANNEL, World, fixture_bytes


async def test_issue_created_opens_incident_fix_linear_issue_and_announcement(world: World) -> None:
    body = fixture_bytes("sentry", "issue.created")
    response = await world.send.sentry(body, "issue", request_id="a" * 32)
    assert response.status == 200, await response.text()
    assert await response.json() == {"ok": True, "delivery": "a" * 32, "queued": True}

    incident = await world.pool.fetchrow("SELECT * FROM infrastructure_incidents")
    assert incident["source"] == "sentry" and incident["source_id"] == "1170820242"
    assert incident["sentry_issue_id"] == "1170820242" and incident["severity"] == "high"
    assert incident["title"] == "ReferenceError: blooopy is not defined"
    assert incident["error_message"] == "blooopy is not defined"
    assert incident["affected_services"] == ["front-end"] and incident["status"] == "detected"
    assert incident["error_details"]["short_id"] == "FRONT-END-9"
    assert incident["time_to_detect_ms"] > 0
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["error_type"] == "ReferenceError" and fix["severity"] == "high" and fix["source"] == "sentry"
    assert fix["detected_at"].isoformat() == "2019-08-19T20:58:37.391000+00:00"
    assert await world.pool.fetchval("SELECT count(*) FROM sentry_error_mappings") == 0
    delivery = await world.pool.fetchrow("SELECT * FROM webhook_deliveries")
    assert delivery["status"] == "processed" and bytes(delivery["body"]) == body
    assert delivery["event_type"] == "issue" and delivery["action"] == "created"

    await world.drain()

    [create] = world.linear.called("issueCreate")
    assert create.authorization == "lin_api_test"
    assert create.variables["input"]["teamId"] == world.linear.teams["ENG"]["id"]
    assert "blooopy" in create.variables["input"]["title"]
    mapping = await world.pool.fetchrow("SELECT * FROM sentry_error_mappings")
    assert mapping["sentry_issue_id"] == "1170820242" and mapping["linear_issue_id"] == "ENG-1"
    assert mapping["team_key"] == "ENG" and mapping["status"] == "open" and mapping["error_type"] == "ReferenceError"
    incident = await world.pool.fetchrow("SELECT * FROM infrastructure_incidents")
    assert incident["linear_issue_id"] == "ENG-1"
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["linear_issue_id"] == "ENG-1" and fix["team_key"] == "ENG"

    [post] = world.slack.called("chat.postMessage")
    assert post.args["channel"] == INCIDENTS_CHANNEL and "blooopy" in post.args["text"]
    assert incident["slack_channel_id"] == INCIDENTS_CHANNEL and incident["slack_thread_ts"]


async def test_the_new_issues_fix_row_carries_the_routed_team_and_its_incident(world: World) -> None:
    """One statement opens the incident, its announcement, its fix row and its Linear work: the fix row's
    team is the one ``linear.routing`` names for the project, and only a non-empty string names one."""
    routings = [({"sentry_projects": {"front-end": "WEB"}}, "WEB"), ({"sentry_projects": {"front-end": ""}}, None),
                ({"sentry_projects": ["front-end"]}, None), ("WEB", None)]  # fmt: skip
    for routing, team in routings:
        await world.pool.execute("TRUNCATE infrastructure_incidents, fix_metrics, outbox, webhook_deliveries CASCADE")
        await world.pool.execute(
            "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'linear.routing'", routing
        )
        assert (await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")).status == 200
        incident = await world.pool.fetchrow("SELECT id FROM infrastructure_incidents")
        fix = await world.pool.fetchrow("SELECT team_key, metadata, linear_issue_id FROM fix_metrics")
        assert fix["team_key"] == team, routing
        assert fix["metadata"] == {
            "incident_id": str(incident["id"]),
            "project": "front-end",
            "short_id": "FRONT-END-9",
        }
        queued = await world.pool.fetch("SELECT kind, payload, dedupe_key FROM outbox ORDER BY id")
        assert [(q["kind"], q["dedupe_key"]) for q in queued] == [
            ("incident.announce", f"incident.announce:{incident['id']}"),
            ("linear.create_issue", "linear.create_issue:sentry:1170820242"),
        ]
        assert queued[0]["payload"] == {"incident_id": str(incident["id"])}
        assert (
            queued[1]["payload"]["project"] == "front-end" and queued[1]["payload"]["sentry_issue_id"] == "1170820242"
        )
