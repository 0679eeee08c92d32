"""GET /api/v1/incidents, GET /api/v1/incidents/{id}, POST /api/v1/incidents/{id}/transition."""

from __future__ import annotations

import asyncio
from typing import Any

from handlers.api.openapi import PATHS, SCHEMAS
from tests.conftest import bearer
from tests.integration.webhooks.conftest import World, fixture_bytes


async def opened(world: World) -> dict[str, Any]:
    await world.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")
    await world.drain()
    response = await world.client.get("/api/v1/incidents", headers=bearer())
    assert response.status == 200
    [incident] = (await response.json())["incidents"]
    return dict(incident)


async def transition(world: World, incident_id: str, role: str = "service_role", **body: Any) -> Any:
    return await world.client.post(f"/api/v1/incidents/{incident_id}/transition", json=body, headers=bearer(role))


async def test_list_filters_and_get(world: World) -> None:
    incident = await opened(world)
    assert incident["sentry_issue_id"] == "1170820242" and incident["linear_issue_id"] == "ENG-1"
    assert "embedding" not in incident
    for query, count in (
        ("status=detected", 1),
        ("status=resolved", 0),
        ("severity=high", 1),
        ("severity=low", 0),
        ("service=front-end", 1),
        ("service=api", 0),
        ("status=detected&severity=high&service=front-end", 1),
    ):
        response = await world.client.get(f"/api/v1/incidents?{query}", headers=bearer())
        assert len((await response.json())["incidents"]) == count, query
    bad = await world.client.get("/api/v1/incidents?status=open", headers=bearer())
    assert bad.status == 400 and "status" in (await bad.json())["error"]

    one = await world.client.get(f"/api/v1/incidents/{incident['id']}", headers=bearer())
    assert one.status == 200 and (await one.json())["id"] == incident["id"]
    assert (await world.client.get("/api/v1/incidents/not-a-uuid", headers=bearer())).status == 404


async def test_rls_keeps_incidents_to_service_role(world: World) -> None:
    incident = await opened(world)
    assert (await world.client.get("/api/v1/incidents")).status == 401
    response = await world.client.get("/api/v1/incidents", headers=bearer("authenticated"))
    assert response.status == 200 and (await response.json())["incidents"] == []
    one = await world.client.get(f"/api/v1/incidents/{incident['id']}", headers=bearer("authenticated"))
    assert one.status == 404
    refused = await transition(world, incident["id"], "authenticated", action="acknowledge")
    assert refused.status == 403
    assert await world.pool.fetchval("SELECT status FROM infrastructure_incidents") == "detected"


async def test_lifecycle_keeps_timing_and_tells_the_thread(world: World) -> None:
    incident = await opened(world)
    ack = await transition(world, incident["id"], action="acknowledge", note="on it")
    assert ack.status == 200 and (await ack.json())["status"] == "acknowledged"
    fix = await world.pool.fetchrow("SELECT * FROM fix_metrics")
    assert fix["acknowledged_at"] is not None
    mitigate = await transition(world, incident["id"], action="mitigate")
    body = await mitigate.json()
    assert body["status"] == "mitigating" and body["time_to_mitigate_ms"] is not None
    resolve = await transition(
        world,
        incident["id"],
        action="resolve",
        resolution_steps=["rolled back release 42", "flushed cache"],
        resolution_summary="bad deploy rolled back",
    )
    body = await resolve.json()
    assert resolve.status == 200 and body["status"] == "resolved"
    assert body["resolution_steps"] == ["rolled back release 42", "flushed cache"]
    assert body["resolution_summary"] == "bad deploy rolled back"
    assert body["resolved_by"] == "service_role-tester" and body["resolved_at"] is not None
    assert body["time_to_resolve_ms"] >= body["time_to_mitigate_ms"]

    for _ in range(4):  # replies wait (RetryLater 1 s) for the earlier ones of the thread: let that time pass
        await world.make_due()
        await world.drain()
    assert await world.pool.fetchval("SELECT count(*) FROM outbox WHERE status <> 'done'") == 0
    posts = world.slack.called("chat.postMessage")
    replies = [p.args for p in posts if p.args.get("thread_ts")]
    assert all(r["thread_ts"] == body["slack_thread_ts"] for r in replies)
    # Three changes queued before the outbox ran: one coalesced reply, in order (issue 16).
    [reply] = replies
    assert reply["text"].split("\n") == [
        f"Incident #{body['incident_number']}: 3 updates",
        "• Incident #1 is now acknowledged",
        "   on it",
        "• Incident #1 is now being mitigated",
        "• Incident #1 is now resolved by service_role-tester: bad deploy rolled back",
    ]


async def test_illegal_transitions_are_409(world: World) -> None:
    incident = await opened(world)
    assert (await transition(world, incident["id"], action="resolve")).status == 200
    for action in ("acknowledge", "mitigate", "resolve"):
        response = await transition(world, incident["id"], action=action)
        body = await response.json()
        assert response.status == 409 and f"cannot {action} an incident that is resolved" in body["error"]
    assert await world.pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'incident.update'") == 1


async def test_bad_bodies_are_400_and_unknown_incident_404(world: World) -> None:
    incident = await opened(world)
    for body in (
        {},
        {"action": "ignore"},
        {"action": "resolve", "resolution_steps": "x"},
        {"action": "acknowledge", "resolution_summary": "x"},
    ):
        response = await transition(world, incident["id"], **body)
        assert response.status == 400, body
    missing = await transition(world, "00000000-0000-4000-8000-000000000000", action="acknowledge")
    assert missing.status == 404


async def test_two_simultaneous_acknowledgements_one_wins(world: World) -> None:
    incident = await opened(world)
    answers = await asyncio.gather(*(transition(world, incident["id"], action="acknowledge") for _ in range(3)))
    assert sorted(a.status for a in answers) == [200, 409, 409]
    assert await world.pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'incident.update'") == 1


def test_openapi_paths_are_documented() -> None:
    assert {"/api/v1/incidents", "/api/v1/incidents/{id}", "/api/v1/incidents/{id}/transition"} <= set(PATHS)
    assert "post" in PATHS["/api/v1/incidents/{id}/transition"] and "Incident" in SCHEMAS
