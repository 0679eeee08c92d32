"""Pending dedupe, rejection memory and precedent in the request message."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from domain.approvals.blocks import ActionId
from tests.integration.approvals.conftest import REQUEST, SERVICE, Harness, submission_payload


async def _post(harness: Harness, **overrides: Any) -> tuple[int, dict[str, Any]]:
    response = await harness.client.post("/api/v1/approvals", json={**REQUEST, **overrides}, headers=SERVICE)
    body: dict[str, Any] = await response.json()
    return response.status, body


async def test_an_identical_request_while_one_is_pending_returns_the_pending_one(harness: Harness) -> None:
    first = await harness.create()
    reordered = dict(reversed(list(REQUEST["action_details"].items())))
    status, again = await _post(harness, action_details=reordered, continuation_payload={"retry": 2})
    assert status == 200 and again["id"] == first["id"], "key order does not make a request different"
    status, other = await _post(harness, action_details={**REQUEST["action_details"], "to": "v40"})
    assert status == 201 and other["id"] != first["id"]
    assert await harness.pool.fetchval("SELECT count(*) FROM approval_requests") == 2


async def test_identical_requests_racing_create_one(harness: Harness) -> None:
    """Settled by the unique partial index (without it, each racer inserts its own row)."""
    answers = await asyncio.gather(*(_post(harness, action_type="scale_down") for _ in range(8)))
    assert sorted(status for status, _ in answers).count(201) == 1
    assert len({body["id"] for _, body in answers}) == 1
    assert await harness.pool.fetchval("SELECT count(*) FROM approval_requests") == 1
    await harness.deliver()
    assert len(harness.fake.called("chat.postMessage")) == 1


async def test_a_decided_or_expired_request_does_not_hold_its_twin(harness: Harness) -> None:
    first = await harness.create()
    await harness.click(ActionId.APPROVE, first["id"], user="U0LEAD")
    assert (await harness.get(first["id"], wait=10))["status"] == "approved"
    status, second = await _post(harness)
    assert status == 201 and second["id"] != first["id"]
    await harness.pool.execute(
        "UPDATE approval_requests SET expires_at = now() - interval '1 s' WHERE id = $1::uuid", second["id"]
    )
    status, third = await _post(harness)
    assert status == 201 and third["id"] != second["id"]
    assert (await harness.get(second["id"]))["status"] == "expired", "the stale twin expired, its agent told"


async def test_an_identical_request_after_a_rejection_is_rejected_at_once(harness: Harness) -> None:
    first = await harness.create()
    await harness.deliver()
    await harness.interact(submission_payload(first["id"], "Not during the sale", user="U0LEAD"))
    assert (await harness.get(first["id"], wait=10))["status"] == "rejected"
    await harness.deliver()
    posts = len(harness.fake.called("chat.postMessage"))

    status, again = await _post(harness, continuation_payload={"attempt": 2})
    assert status == 201 and again["status"] == "rejected" and again["id"] != first["id"]
    assert first["id"] in again["rejection_reason"] and "Not during the sale" in again["rejection_reason"]
    event = await harness.pool.fetchrow(
        "SELECT event_type, payload, target_agent_ids FROM agent_events WHERE correlation_id = $1::uuid", again["id"]
    )
    assert event["event_type"] == REQUEST["continuation_event_type"] and event["target_agent_ids"] == ["deploy-agent"]
    assert event["payload"]["decision"] == "rejected" and event["payload"]["attempt"] == 2
    assert event["payload"]["rejected_by_memory"] is True and event["payload"]["remembered_from"] == first["id"]
    await harness.deliver()
    assert len(harness.fake.called("chat.postMessage")) == posts, "nobody is asked again"

    status, third = await _post(harness)
    assert third["status"] == "rejected" and first["id"] in third["rejection_reason"], "the human decision is named"

    await harness.pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'approvals.rejection_memory'",
        {"seconds": 0},
    )
    status, fresh = await _post(harness)
    assert status == 201 and fresh["status"] == "pending"


async def test_memory_ends_after_its_window(harness: Harness) -> None:
    first = await harness.create()
    await harness.interact(submission_payload(first["id"], "no", user="U0LEAD"))
    await harness.get(first["id"], wait=10)
    await harness.pool.execute(
        "UPDATE approval_requests SET resolved_at = now() - interval '25 hours' WHERE id = $1::uuid", first["id"]
    )
    status, again = await _post(harness)
    assert status == 201 and again["status"] == "pending"


async def test_the_message_shows_the_most_similar_earlier_decisions(harness: Harness) -> None:
    details = REQUEST["action_details"]
    earlier = [
        ({**details, "to": "v40"}, "rejected", "Version 40 has the cart bug", 2),
        ({**details, "to": "v39"}, "approved", None, None),
        ({**details, "to": "v38"}, "approved", None, None),
        ({"service": "search", "from": "a", "to": "b"}, "approved", None, None),
        ({"service": "checkout", "nodes": 3}, "approved", None, None),
    ]
    for i, (d, status, reason, incident_after_days) in enumerate(earlier):
        row = await harness.pool.fetchrow(
            "INSERT INTO approval_requests (agent_name, action_type, action_details, risk_level, status,"
            " resolved_by, resolved_at, rejection_reason) VALUES ($1, $2, $3, 'medium', $4, 'U0LEAD',"
            " now() - make_interval(days => $5), $6) RETURNING id, resolved_at",
            REQUEST["agent_name"],
            REQUEST["action_type"],
            d,
            status,
            10 + 10 * i,
            reason,
        )
        if incident_after_days is not None:
            await harness.pool.execute(
                "INSERT INTO infrastructure_incidents (severity, incident_type, source, title, affected_services,"
                " created_at) VALUES ('high', 'error_spike', 'sentry', 'cart errors', ARRAY['checkout'],"
                " $1::timestamptz + make_interval(days => $2::int))",
                row["resolved_at"],
                incident_after_days,
            )
    await harness.create()
    await harness.deliver()
    (post,) = harness.fake.called("chat.postMessage")
    shown = next(
        e["text"]
        for b in post.args["blocks"]
        if b["type"] == "context"
        for e in b["elements"]
        if "Similar" in e["text"]
    )
    lines = [line for line in shown.splitlines() if line.startswith("•")]
    assert len(lines) == 3
    assert "Rejected" in lines[0] and "Version 40 has the cart bug" in lines[0] and "incident #" in lines[0]
    assert "2 days later" in lines[0]
    assert all("no incident on the service within 7 days" in line for line in lines[1:]), lines
    assert "search" not in json.dumps(shown) and str(uuid.UUID(int=0)) not in shown
