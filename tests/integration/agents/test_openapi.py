"""The OpenAPI document, and schemathesis fuzzing the running app with it (no 5xx, no response off-schema)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import token

ROOT = Path(__file__).resolve().parents[3]


async def test_the_document_describes_every_api_route(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/v1/openapi.json")  # public: no token
    assert response.status == 200
    doc = await response.json()
    assert doc["openapi"].startswith("3.1") and doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    routes = {
        (r.method, r.resource.canonical)
        for r in client.app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/v1/") and r.method != "HEAD"
    }
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    assert routes - {("GET", "/api/v1/openapi.json")} <= documented
    for path, item in doc["paths"].items():
        for operation in item.values():
            assert operation["responses"] and operation["operationId"], path


async def test_schemathesis_finds_no_server_error_and_no_off_schema_answer(client: TestClient[Any, Any]) -> None:
    base_url = f"http://{client.server.host}:{client.server.port}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.agents.fuzz_api",
        base_url,
        token("service_role", expires_in=600),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(120):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0, err.decode()[-6000:]
    assert json.loads(out.decode().strip().splitlines()[-1])["operations"] >= 11
