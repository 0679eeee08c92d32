"""The access log: one JSON line per request, with no query string, header or body in it."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from logs import JsonFormatter
from tests.conftest import bearer


async def test_one_line_per_request_without_secrets(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="swarm_bridge")
    headers = bearer("service_role")
    assert (await client.get("/api/v1/events?after=0&token=s3cret-in-query", headers=headers)).status == 200
    assert (await client.get("/api/v1/events")).status == 401
    assert (await client.post("/api/v1/events", data=b'{"s3cret-in-body": 1}', headers=headers)).status == 400
    assert (await client.get("/no/such/route")).status == 404
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.getMessage() == "http.request"]
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("GET", "/api/v1/events", 200),
        ("GET", "/api/v1/events", 401),
        ("POST", "/api/v1/events", 400),
        ("GET", "/no/such/route", 404),
    ]
    assert all(isinstance(line["duration_ms"], float) for line in lines)
    text = json.dumps(lines)
    assert "s3cret" not in text and headers["Authorization"].split()[1] not in text and "Bearer" not in text
