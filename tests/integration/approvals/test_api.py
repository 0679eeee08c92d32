"""The approvals API: validation (400 naming the field, nothing stored), tokens and roles."""

from __future__ import annotations

from typing import Any

import pytest

from domain.approvals.rules import MAX_DETAILS_BYTES
from tests.conftest import bearer
from tests.integration.approvals.conftest import REQUEST, SERVICE, Harness

BAD: list[tuple[str, dict[str, Any]]] = [
    ("risk_level", {"risk_level": "extreme"}),
    ("risk_level", {"risk_level": None}),
    ("agent_name", {"agent_name": None}),
    ("agent_name", {"agent_name": 7}),
    ("agent_name", {"agent_name": "x" * 101}),
    ("action_type", {"action_type": ""}),
    ("action_details", {"action_details": "not an object"}),
    ("action_details", {"action_details": {"blob": "x" * MAX_DETAILS_BYTES}}),
    ("continuation_event_type", {"continuation_event_type": ["a"]}),
    ("continuation_payload", {"continuation_payload": [1, 2]}),
    ("channel", {"channel": "#general"}),
    ("thread_ts", {"thread_ts": "yesterday", "channel": "C0INCIDENT"}),
    ("channel", {"thread_ts": "1712345678.000100"}),
    ("expires_in_s", {"expires_in_s": "3600"}),
    ("expires_in_s", {"expires_in_s": True}),
    ("expires_in_s", {"expires_in_s": 0}),
]


@pytest.mark.parametrize(("field", "change"), BAD, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD)])
async def test_bad_input_is_400_naming_the_field_and_stores_nothing(
    harness: Harness, field: str, change: dict[str, Any]
) -> None:
    body = {**REQUEST, **change}
    if change.get(field, "") is None:
        del body[field]
    response = await harness.client.post("/api/v1/approvals", json=body, headers=SERVICE)
    assert response.status == 400
    answer = await response.json()
    assert answer["field"] == field and field in answer["error"]
    assert await harness.pool.fetchval("SELECT count(*) FROM approval_requests") == 0
    assert await harness.pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_not_json_is_400(harness: Harness) -> None:
    response = await harness.client.post("/api/v1/approvals", data=b"{nope", headers=SERVICE)
    assert response.status == 400 and (await response.json())["field"] == "body"


async def test_created_row_and_defaults(harness: Harness) -> None:
    minimal = {k: REQUEST[k] for k in ("agent_name", "action_type", "action_details", "risk_level")}
    response = await harness.client.post("/api/v1/approvals", json=minimal, headers=SERVICE)
    assert response.status == 201
    row = await response.json()
    assert response.headers["Location"] == f"/api/v1/approvals/{row['id']}"
    hours = await harness.pool.fetchval(
        "SELECT extract(epoch FROM expires_at - created_at) / 3600 FROM approval_requests"
    )
    assert round(hours) == 24
    assert row["continuation_event_type"] is None and row["status"] == "pending"


async def test_unknown_id_is_404(harness: Harness) -> None:
    for path in ("/api/v1/approvals/00000000-0000-0000-0000-000000000000", "/api/v1/approvals/not-a-uuid"):
        response = await harness.client.get(path, headers=SERVICE)
        assert response.status == 404


async def test_tokens_missing_expired_wrong_secret_or_role(harness: Harness) -> None:
    approval_id = (await harness.create())["id"]
    cases = {
        "missing": ({}, 401),
        "expired": (bearer("service_role", expires_in=-10), 401),
        "wrong secret": (bearer("service_role", secret="x" * 40), 401),
        "unknown role": (bearer("anon"), 403),
    }
    for name, (headers, status) in cases.items():
        create = await harness.client.post("/api/v1/approvals", json=REQUEST, headers=headers)
        read = await harness.client.get(f"/api/v1/approvals/{approval_id}", headers=headers)
        assert (create.status, read.status) == (status, status), name
        assert "error" in await create.json()
    assert await harness.pool.fetchval("SELECT count(*) FROM approval_requests") == 1


async def test_authenticated_may_neither_create_nor_read_nor_cancel(harness: Harness) -> None:
    approval_id = (await harness.create())["id"]
    user = bearer("authenticated")
    create = await harness.client.post("/api/v1/approvals", json=REQUEST, headers=user)
    read = await harness.client.get(f"/api/v1/approvals/{approval_id}?wait=1", headers=user)
    cancel = await harness.client.post(f"/api/v1/approvals/{approval_id}/cancel", headers=user)
    assert (create.status, read.status, cancel.status) == (403, 403, 403)
    assert await harness.pool.fetchval("SELECT count(*) FROM approval_requests") == 1
    assert (await harness.get(approval_id))["status"] == "pending"


async def test_rls_itself_keeps_approvals_from_authenticated(harness: Harness) -> None:
    """Below the code's role check, the database hides and refuses the rows to ``authenticated``."""
    await harness.create()
    async with harness.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT set_config('role', 'authenticated', true),"
            " set_config('request.jwt.claims', '{\"role\": \"authenticated\"}', true)"
        )
        assert await conn.fetchval("SELECT count(*) FROM approval_requests") == 0
        with pytest.raises(Exception, match="permission denied"):
            await conn.execute(
                "INSERT INTO approval_requests (agent_name, action_type, action_details) VALUES ('a', 'b', '{}')"
            )


def test_routes_are_documented_for_openapi() -> None:
    from handlers.api.openapi import PATHS, SCHEMAS

    assert set(PATHS["/api/v1/approvals"]) == {"post"}
    assert set(PATHS["/api/v1/approvals/{id}"]) == {"get"}
    assert set(PATHS["/api/v1/approvals/{id}/cancel"]) == {"post"}
    assert {"Approval", "NewApproval"} <= set(SCHEMAS)


async def test_seeded_settings_validate_against_their_schema(harness: Harness) -> None:
    import jsonschema

    rows = await harness.pool.fetch(
        "SELECT config_key, config_value, value_schema, description FROM agent_swarm_config"
        " WHERE config_key IN ('approvals.approvers', 'approvals.channels')"
    )
    assert len(rows) == 2
    for row in rows:
        jsonschema.Draft202012Validator.check_schema(row["value_schema"])
        jsonschema.validate(row["config_value"], row["value_schema"])
        assert row["description"]
    approvers = next(r["value_schema"] for r in rows if r["config_key"] == "approvals.approvers")
    jsonschema.validate({"high": ["U012AB3CD", "W0ABC", "S0614TZR7"]}, approvers)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"urgent": ["U012AB3CD"]}, approvers)
