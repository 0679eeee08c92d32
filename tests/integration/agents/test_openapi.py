"""The OpenAPI document, and schemathesis fuzzing the running app with it (no 5xx, no response off-schema)."""

from __future__ import annotations

import asyncio
from typing import Any

import hypothesis
import schemathesis
from aiohttp.test_utils import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import bearer

EXAMPLES_PER_OPERATION = 60
SKIP = {("GET", "/api/v1/events/stream")}  # an endless stream: covered by tests/integration/agents/test_events.py


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


def fuzz(schema: Any, base_url: str, headers: dict[str, str]) -> int:
    """Run every operation's generated cases; a failing check raises (with schemathesis' report)."""
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIP:
            continue

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        def run(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=10)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        run()
        operations += 1
    return operations


async def test_schemathesis_finds_no_server_error_and_no_off_schema_answer(client: TestClient[Any, Any]) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    base_url = f"http://{client.server.host}:{client.server.port}"
    # Loaded here, not in the worker thread: schemathesis imports modules lazily, and CPython 3.11 can fail
    # compiling (pytest's assertion rewriting) in a second thread ("AST constructor recursion depth mismatch").
    schema = schemathesis.openapi.from_dict(document)
    operations = await asyncio.to_thread(fuzz, schema, base_url, bearer("service_role"))
    assert operations >= 11
