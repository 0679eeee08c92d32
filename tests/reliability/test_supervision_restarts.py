"""The supervisor: a crashed background component is logged, restarted with backoff, and shown in /readyz
(503 naming it while it restarts, 200 once it runs again)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from handlers.keys import SUPERVISOR
from jobs import supervisor as supervision
from tests.reliability.conftest import wait_for


async def test_a_crashing_component_is_restarted_and_shown_in_readyz(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervision, "FIRST_BACKOFF_S", 0.5)
    runs = 0
    healthy = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise ConnectionError(f"crash {runs}")
        healthy.set()
        await asyncio.Event().wait()

    assert (await client.get("/readyz")).status == 200
    supervisor = client.app[SUPERVISOR]
    caplog.set_level(logging.INFO, logger="swarm_bridge")
    supervisor.start("test.flaky", flaky)
    try:
        down = await wait_for(lambda: _status(client, 503), 5)
        assert down["down"] == ["test.flaky"] and down["error"] == "not running: test.flaky"
        assert down["components"]["test.flaky"]["state"] == "restarting"
        assert "ConnectionError('crash" in down["components"]["test.flaky"]["last_error"]
        assert down["components"]["listen"]["ready"] is True

        async with asyncio.timeout(10):
            await healthy.wait()
        up = await wait_for(lambda: _status(client, 200), 5)
        assert up["components"]["test.flaky"] | {"last_error": None} == {
            "state": "running",
            "restarts": 2,
            "critical": True,
            "ready": True,
            "last_error": None,
        }
        crashes = [r for r in caplog.records if r.getMessage() == "supervisor.crashed"]
        assert [r.fields["restarts"] for r in crashes] == [1, 2]  # type: ignore[attr-defined]
        assert all(r.exc_info for r in crashes), "the crash is logged with its traceback"
        delays = [r.fields["restart_in_s"] for r in crashes]  # type: ignore[attr-defined]
        assert delays[1] > delays[0], f"backoff grows: {delays}"
    finally:
        await supervisor.stop("test.flaky")
    assert supervisor.components["test.flaky"].state == "stopped"


async def test_a_component_that_is_not_critical_never_makes_the_replica_unready(
    client: TestClient[Any, Any],
) -> None:
    async def broken() -> None:
        raise RuntimeError("Slack refused the app token")

    supervisor = client.app[SUPERVISOR]
    component = supervisor.start("test.optional", broken, critical=False)
    try:
        await wait_for(lambda: component.restarts >= 1, 5)
        body = await _status(client, 200)
        assert body and body["components"]["test.optional"]["ready"] is False
    finally:
        await supervisor.stop("test.optional")


async def _status(client: TestClient[Any, Any], wanted: int) -> dict[str, Any] | None:
    response = await client.get("/readyz")
    body: dict[str, Any] = await response.json()
    return body if response.status == wanted else None
