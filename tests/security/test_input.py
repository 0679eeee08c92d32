"""Bad input answers 4xx, never 500: deep JSON, lone surrogates, invalid UTF-8, non-ASCII digits, an
Expect header of raw bytes, look-alike config keys, and error bodies without PostgreSQL's own words."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from integrations.webhooks.depth import MAX_DEPTH, too_deep
from tests.conftest import bearer
from tests.integration.webhooks.conftest import sign

DEEP = b"[" * 50_000 + b"]" * 50_000
BODY_ROUTES = [
    ("POST", "/api/v1/events"),
    ("POST", "/api/v1/actions"),
    ("POST", "/api/v1/costs"),
    ("POST", "/api/v1/approvals"),
    ("PUT", "/api/v1/config/some.key"),
    ("PATCH", "/api/v1/coding-requests/1"),
    ("POST", "/api/v1/incidents/00000000-0000-0000-0000-000000000000/transition"),
]


def test_depth_is_counted_outside_strings() -> None:
    assert not too_deep(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    assert too_deep(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    assert not too_deep(json.dumps({"text": "[{" * 500, "escaped": '\\"[[' * 100}).encode())
    assert not too_deep(json.dumps([[i] for i in range(5000)]).encode()), "many brackets, shallow"
    assert too_deep('{"a":' * 70 + "1" + "}" * 70)


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
async def test_json_nested_50000_deep_is_a_400(client: TestClient[Any, Any], method: str, path: str) -> None:
    response = await client.request(method, path, data=DEEP, headers=bearer())
    assert response.status == 400, await response.text()
    assert "deeper than" in (await response.json())["error"]


async def test_a_signed_webhook_nested_100000_deep_is_a_400_and_not_stored(
    app_factory: Any, pool: asyncpg.Pool
) -> None:
    client = await app_factory(github_webhook_secret="github-secret-for-depth")
    body = b"[" * 100_000 + b"]" * 100_000
    headers = {
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": "deep-1",
        "X-Hub-Signature-256": "sha256=" + sign(body, "github-secret-for-depth"),
    }
    response = await client.post("/webhooks/github", data=body, headers=headers)
    assert response.status == 400 and "deeper than" in (await response.json())["error"]
    assert await pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 0


async def test_lone_surrogates_in_action_details_are_a_400(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    body = b'{"agent_name":"a","action_type":"t","action_details":{"x":"\\ud800"},"risk_level":"low"}'
    response = await client.post("/api/v1/approvals", data=body, headers=bearer())
    assert response.status == 400 and "surrogate" in (await response.json())["error"]
    paired = body.replace(b"\\ud800", b"\\ud83d\\ude00")
    assert (await client.post("/api/v1/approvals", data=paired, headers=bearer())).status == 201
    assert await pool.fetchval("SELECT count(*) FROM approval_requests") == 1


async def test_invalid_utf8_in_a_patch_body_is_a_400(client: TestClient[Any, Any]) -> None:
    response = await client.patch("/api/v1/coding-requests/1", data=b'{"branch_name":"\xff\xfe"}', headers=bearer())
    assert response.status == 400 and "UTF-8" in (await response.json())["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/coding-requests/%C2%B2",
        "/api/v1/coding-requests/%E2%91%A0",
        "/api/v1/coding-requests/%EF%BC%91",
        "/api/v1/coding-requests/" + "9" * 5000,
        "/api/v1/coding-requests?limit=%C2%B2",
        "/api/v1/coding-requests?limit=%E2%91%A0",
        "/api/v1/coding-requests?limit=" + "9" * 5000,
        "/api/v1/actions?limit=" + "9" * 5000,
        "/api/v1/events?after=" + "9" * 5000,
        "/api/v1/events?after=%C2%B2",
    ],
)
async def test_non_ascii_digits_are_refused(client: TestClient[Any, Any], path: str) -> None:
    response = await client.get(path, headers=bearer())
    assert response.status in (400, 404), await response.text()


@pytest.mark.parametrize("path", ["/api/v1/events", "/webhooks/github", "/slack/events", "/nowhere", "/healthz"])
async def test_an_expect_header_of_raw_bytes_gets_a_clean_answer(client: TestClient[Any, Any], path: str) -> None:
    assert client.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n".encode()
            + b"Expect: \xff\xfe100-continue\r\n\r\n{}"
        )
        await writer.drain()
        async with asyncio.timeout(10):
            status_line = await reader.readline()
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 417"), status_line


async def test_expect_100_continue_still_works(client: TestClient[Any, Any]) -> None:
    response = await client.post("/api/v1/events", json={}, headers={**bearer(), "Expect": "100-continue"})
    assert response.status == 400, "continued, then the body was judged"


async def test_config_keys_must_match_whole(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    before = await pool.fetchval("SELECT count(*) FROM agent_swarm_config")
    for key in ("approvals.approvers%0A", "approvals.approvers%0D", "a%00b", "%E2%91%A0"):
        response = await client.put(f"/api/v1/config/{key}", json={"value": {}}, headers=bearer())
        assert response.status == 400, (key, await response.text())
        assert (await client.get(f"/api/v1/config/{key}", headers=bearer())).status == 400
    assert await pool.fetchval("SELECT count(*) FROM agent_swarm_config") == before
    assert await pool.fetchval("SELECT count(*) FROM agent_swarm_config WHERE config_key LIKE '%' || chr(10)") == 0


async def test_refusals_name_the_field_not_the_sql(client: TestClient[Any, Any]) -> None:
    response = await client.put("/api/v1/config/some.key", json={"value": 1}, headers=bearer("authenticated"))
    body = await response.json()
    assert response.status == 403 and body["error"] == "not permitted for this role on table agent_swarm_config"
    cost = {"agent_id": "a", "cost_type": "llm", "amount_usd": "1"}
    response = await client.post("/api/v1/costs", json=cost, headers=bearer("authenticated"))
    assert response.status == 403 and "permission denied" not in (await response.text())
    nul = {"agent_name": "a", "action_type": "t", "action_details": {"x": "\u0000"}, "risk_level": "low"}
    response = await client.post("/api/v1/approvals", json=nul, headers=bearer())
    assert response.status == 400, await response.text()
    text = await response.text()
    for raw in ("unsupported Unicode escape", "DETAIL", "CONTEXT", "jsonb", "SELECT", "INSERT"):
        assert raw not in text, raw
