"""Defects 4 and 5: the bus carries nothing the seed keeps from ``authenticated``, and nobody forges the
service's own events (a continuation that would resume a waiting agent, a coding request status)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import bearer
from tests.integration.coding_requests.helpers import file_request

SERVICE = bearer("service_role", expires_in=3600)  # module-level: valid however long the suite runs
READER = bearer("authenticated", expires_in=3600)
PRIVATE = ("PRIVATE-DETAIL", "PRIVATE-TITLE", "PRIVATE-DESCRIPTION", "Private Person", "private@example.com")
APPROVAL: dict[str, Any] = {
    "agent_name": "deploy-agent",
    "action_type": "rollback_deployment",
    "action_details": {"service": "checkout", "note": "PRIVATE-DETAIL"},
    "risk_level": "medium",
    "continuation_event_type": "deploy.rollback.decided",
    "continuation_payload": {"incident_id": "inc-7", "step": 3},
}


async def _request_approval(client: TestClient[Any, Any]) -> str:
    response = await client.post("/api/v1/approvals", json=APPROVAL, headers=SERVICE)
    assert response.status == 201, await response.text()
    approval_id: str = (await response.json())["id"]
    return approval_id


async def test_an_authenticated_reader_sees_no_private_field_on_the_bus(
    client: TestClient[Any, Any], pool: asyncpg.Pool
) -> None:
    approval_id = await _request_approval(client)
    cancelled = await client.post(
        f"/api/v1/approvals/{approval_id}/cancel", json={"reason": "PRIVATE-REASON"}, headers=SERVICE
    )
    assert cancelled.status == 200
    await file_request(
        pool,
        title="PRIVATE-TITLE",
        description="PRIVATE-DESCRIPTION",
        requested_by_name="Private Person",
        requested_by_email="private@example.com",
    )
    moved = await client.patch(
        "/api/v1/coding-requests/1", json={"status": "planning", "branch_name": "cr-1-private"}, headers=SERVICE
    )
    assert moved.status == 200, await moved.text()

    page = await client.get("/api/v1/events", headers=READER)
    assert page.status == 200
    text = await page.text()
    events = {e["event_type"]: e for e in json.loads(text)["events"]}
    assert set(events) == {"deploy.rollback.decided", "coding_request.created", "coding_request.updated"}
    leaked = [word for word in (*PRIVATE, "PRIVATE-REASON", "cr-1-private", "U2CERLKJA") if word in text]
    assert leaked == []
    # The waiting agent still gets what it needs: its own payload, the decision, the ids and states.
    assert events["deploy.rollback.decided"]["payload"] == {
        "incident_id": "inc-7",
        "step": 3,
        "approval_id": approval_id,
        "decision": "cancelled",
        "decided_at": events["deploy.rollback.decided"]["payload"]["decided_at"],
    }
    updated = events["coding_request.updated"]["payload"]
    assert (updated["request_number"], updated["previous_status"], updated["status"]) == (1, "pending", "planning")
    # ... and fetches the rest with its service token.
    full = await (await client.get("/api/v1/coding-requests/1", headers=SERVICE)).json()
    assert (full["title"], full["branch_name"]) == ("PRIVATE-TITLE", "cr-1-private")
    approval = await (await client.get(f"/api/v1/approvals/{approval_id}", headers=SERVICE)).json()
    assert approval["rejection_reason"] == "PRIVATE-REASON"


FORGERIES = {
    "the service's source": {"source_agent_id": "swarm-bridge", "event_type": "incident.detected"},
    "a look-alike source": {"source_agent_id": " Swarm-Bridge", "event_type": "deploy.done"},
    "approval.decided": {"source_agent_id": "triage-1", "event_type": "approval.decided"},
    "a coding request status": {"source_agent_id": "triage-1", "event_type": "Coding_Request.updated"},
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
async def test_the_services_own_events_cannot_be_published(
    client: TestClient[Any, Any], pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    approval_id = await _request_approval(client)
    body = {
        "source_agent_type": "integration",
        "payload": {"decision": "approved", "approval_id": approval_id},
        "target_agent_ids": ["deploy-agent"],
        "correlation_id": approval_id,
        **FORGERIES[name],
    }
    response = await client.post("/api/v1/events", json=body, headers=SERVICE)
    assert response.status == 403
    assert "reserved" in (await response.json())["error"]
    assert await pool.fetchval("SELECT count(*) FROM agent_events") == 0
    refused = [r.fields for r in caplog.records if r.getMessage() == "bus.publish_refused"]
    assert [(r["event_type"], r["correlation_id"]) for r in refused] == [(body["event_type"], approval_id)]


async def test_a_requests_continuation_type_cannot_be_published_with_its_id(
    client: TestClient[Any, Any], pool: asyncpg.Pool
) -> None:
    approval_id = await _request_approval(client)
    forged = {
        "source_agent_id": "triage-1",
        "source_agent_type": "triage",
        "event_type": "deploy.rollback.decided",
        "payload": {"decision": "approved"},
        "correlation_id": approval_id,
    }
    response = await client.post("/api/v1/events", json=forged, headers=SERVICE)
    assert response.status == 403 and "continuation" in (await response.json())["error"]
    # The same agent may still publish its own events about the request, and the type under another id.
    for allowed in ({**forged, "event_type": "deploy.rollback.started"}, {**forged, "correlation_id": None}):
        response = await client.post("/api/v1/events", json=allowed, headers=SERVICE)
        assert response.status == 201, await response.text()
    assert await pool.fetchval("SELECT count(*) FROM agent_events") == 2
    assert (await client.get(f"/api/v1/approvals/{approval_id}", headers=SERVICE)).status == 200
    assert await pool.fetchval("SELECT status FROM approval_requests WHERE id = $1", uuid.UUID(approval_id)) == (
        "pending"
    )
