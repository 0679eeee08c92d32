"""The HTTP skeleton: health, readiness, JSON errors, webhook refusal, the agents' API authentication."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from app import build_app
from db import migrate
from handlers.api.auth import as_caller
from handlers.keys import POOL
from tests.conftest import bearer, make_config


async def test_healthz(client: TestClient[Any, Any]) -> None:
    response = await client.get("/healthz")
    assert response.status == 200 and (await response.json())["ok"] is True


async def readyz_until(client: TestClient[Any, Any], error: str, within_s: float = 10) -> dict[str, Any]:
    """/readyz answers from memory; its database checks run in the background (every second)."""
    async with asyncio.timeout(within_s):
        while True:
            response = await client.get("/readyz")
            body: dict[str, Any] = await response.json()
            if response.status == 503 and body.get("error") == error:
                return body
            await asyncio.sleep(0.05)


async def test_readyz_when_ready(client: TestClient[Any, Any]) -> None:
    response = await client.get("/readyz")
    assert response.status == 200


async def test_readyz_answers_from_memory_while_every_pooled_connection_is_busy(
    client: TestClient[Any, Any],
) -> None:
    pool = client.app[POOL]
    held = []
    try:
        while True:  # every connection the pool can give, so a query per probe would have to wait
            try:
                held.append(await pool.acquire(timeout=0.3))
            except TimeoutError:
                break
        async with asyncio.timeout(1):
            response = await client.get("/readyz")
        assert response.status == 200, await response.text()
    finally:
        for conn in held:
            await pool.release(conn)


async def test_readyz_names_pending_migrations(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    await pool.execute("DELETE FROM schema_migrations WHERE version = '0005_inbox_outbox'")
    try:
        body = await readyz_until(client, "migrations pending")
        assert body["pending"] == ["0005_inbox_outbox"]
    finally:
        checksum = next(m.checksum for m in migrate.discover() if m.version == "0005_inbox_outbox")
        await pool.execute(
            "INSERT INTO schema_migrations (version, checksum) VALUES ('0005_inbox_outbox', $1)", checksum
        )


async def test_readyz_is_503_while_the_database_is_unreachable(client: TestClient[Any, Any]) -> None:
    pool = client.app[POOL]
    await pool.close()
    body = await readyz_until(client, "database unreachable")
    assert body["detail"]


async def test_unknown_route_is_json(client: TestClient[Any, Any]) -> None:
    response = await client.get("/nowhere")
    assert response.status == 404 and "error" in await response.json()
    response = await client.delete("/healthz")
    assert response.status == 405 and "error" in await response.json()


async def test_webhooks_without_a_secret_answer_503_naming_it(client: TestClient[Any, Any]) -> None:
    for source, variable in (
        ("sentry", "SENTRY_CLIENT_SECRET"),
        ("github", "GITHUB_WEBHOOK_SECRET"),
        ("linear", "LINEAR_WEBHOOK_SECRET"),
    ):
        response = await client.post(f"/webhooks/{source}", data=b"{}")
        body = await response.json()
        assert response.status == 503 and variable in body["error"], source


async def _probe_client(database_url: str, **overrides: Any) -> TestClient[Any, Any]:
    app = build_app(make_config(database_url, **overrides))

    async def probe(request: web.Request) -> web.Response:
        async with as_caller(request) as conn:
            who = await conn.fetchval("SELECT current_user || ':' || auth.role()")
            approvals = await conn.fetchval("SELECT count(*) FROM approval_requests")
        return web.json_response({"who": who, "approvals": approvals})

    app.router.add_get("/api/v1/_probe", probe)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_api_runs_sql_as_the_callers_role(pool: asyncpg.Pool, database_url: str) -> None:
    await pool.execute(
        "INSERT INTO approval_requests (agent_name, action_type, action_details) VALUES ('a', 'x', '{}')"
    )
    client = await _probe_client(database_url)
    try:
        service = await (await client.get("/api/v1/_probe", headers=bearer("service_role"))).json()
        assert service == {"who": "service_role:service_role", "approvals": 1}
        user = await (await client.get("/api/v1/_probe", headers=bearer("authenticated"))).json()
        assert user == {"who": "authenticated:authenticated", "approvals": 0}
    finally:
        await client.close()


async def test_api_refuses_bad_tokens(pool: asyncpg.Pool, database_url: str) -> None:
    client = await _probe_client(database_url)
    try:
        cases = [
            ({}, 401),
            ({"Authorization": "Basic abc"}, 401),
            ({"Authorization": "Bearer not-a-jwt"}, 401),
            (bearer("service_role", expires_in=-10), 401),
            (bearer("service_role", secret="another-secret-of-sufficient-length-0000"), 401),
            (bearer("anon"), 403),
        ]
        for headers, status in cases:
            response = await client.get("/api/v1/_probe", headers=headers)
            assert response.status == status, headers
            assert "error" in await response.json()
    finally:
        await client.close()


async def test_api_without_jwt_secret_is_503(pool: asyncpg.Pool, database_url: str) -> None:
    client = await _probe_client(database_url, jwt_secret=None)
    try:
        response = await client.get("/api/v1/_probe", headers=bearer())
        assert response.status == 503 and "JWT_SECRET" in (await response.json())["error"]
    finally:
        await client.close()


async def test_a_value_postgresql_refuses_is_a_400_not_a_500(pool: asyncpg.Pool, database_url: str) -> None:
    app = build_app(make_config(database_url))

    async def echo(request: web.Request) -> web.Response:
        text = (await request.json())["text"]
        return web.json_response({"text": await request.app[POOL].fetchval("SELECT $1::text", text)})

    app.router.add_post("/_echo", echo)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        response = await client.post("/_echo", json={"text": "nul \u0000 inside"})
        assert response.status == 400 and "invalid value" in (await response.json())["error"]
        assert (await client.post("/_echo", json={"text": "fine"})).status == 200
    finally:
        await client.close()
