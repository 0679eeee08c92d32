"""The agents' Python client against the real app (and a small fake of the approvals routes)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from integrations.agents.client import AgentClient, ApiError, StreamEvent
from tests.conftest import token
from tests.fakes.tcp_proxy import tcp_proxy


def base_url(client: TestClient[Any, Any]) -> str:
    return f"http://{client.server.host}:{client.server.port}"


async def take(stream: AsyncIterator[StreamEvent], n: int, deadline_s: float = 10) -> list[StreamEvent]:
    out = []
    async with asyncio.timeout(deadline_s):
        async for item in stream:
            out.append(item)
            if len(out) == n:
                break
    return out


async def test_publish_and_a_stream_that_survives_dropped_connections(client: TestClient[Any, Any]) -> None:
    async with (
        tcp_proxy(client.server.host, client.server.port) as proxy,
        AgentClient(
            f"http://127.0.0.1:{proxy.port}", token("service_role"), agent_id="fixer-1", reconnect_delay_s=0.05
        ) as agent,
        AgentClient(base_url(client), token("service_role"), agent_id="triage-1") as publisher,
    ):
        stream = agent.stream("fixer-1", last_event_id=0)
        sent = [await publisher.publish("work.item", {"i": i}, targets=["fixer-1"]) for i in range(3)]
        got = await take(stream, 2)
        proxy.drop()  # the connection dies mid-stream; the client reconnects with Last-Event-ID
        sent += [await publisher.publish("work.item", {"i": i}, targets=["fixer-1"]) for i in range(3, 5)]
        got += await take(stream, 3)
        proxy.drop()
        sent.append(await publisher.publish("work.item", {"i": 5}, targets=["fixer-1"]))
        got += await take(stream, 1)
        await stream.aclose()  # type: ignore[attr-defined]
    assert [g.data["id"] for g in got] == [s["id"] for s in sent]
    assert [g.seq for g in got] == [s["seq"] for s in sent]
    assert agent.reconnects >= 2 and proxy.connections >= 3


async def test_the_client_reports_a_refused_publish(client: TestClient[Any, Any]) -> None:
    async with AgentClient(base_url(client), token("authenticated")) as agent:
        with pytest.raises(ApiError) as refused:
            await agent.publish("not.allowed")
    assert refused.value.status == 403


class FakeApprovals:
    """POST /api/v1/approvals and GET /api/v1/approvals/{id}?wait=N, decided after ``decide_after`` polls."""

    def __init__(self, decide_after: int, decision: str = "approved") -> None:
        self.decide_after = decide_after
        self.decision = decision
        self.rows: dict[str, dict[str, Any]] = {}
        self.polls: list[str] = []
        self.ids = itertools.count(1)

    async def create(self, request: web.Request) -> web.Response:
        assert request.headers["Authorization"].startswith("Bearer ")
        body = await request.json()
        row = {"id": f"00000000-0000-0000-0000-{next(self.ids):012d}", "status": "pending", **body}
        self.rows[row["id"]] = row
        return web.json_response(row, status=201)

    async def get(self, request: web.Request) -> web.Response:
        self.polls.append(request.query["wait"])
        row = self.rows[request.match_info["id"]]
        if len(self.polls) >= self.decide_after:
            row["status"] = self.decision
        return web.json_response(row)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/approvals", self.create)
        app.router.add_get("/api/v1/approvals/{id}", self.get)
        return app


async def test_request_approval_long_polls_until_decided() -> None:
    fake = FakeApprovals(decide_after=3, decision="rejected")
    async with (
        TestServer(fake.app()) as server,
        AgentClient(str(server.make_url("/")), token("service_role"), agent_id="deployer") as agent,
    ):
        row = await agent.request_approval(
            "deploy", {"service": "api"}, risk_level="high", continuation_event_type="deploy.decided", poll_s=7
        )
    assert row["status"] == "rejected" and row["agent_name"] == "deployer" and row["risk_level"] == "high"
    assert row["continuation_event_type"] == "deploy.decided"
    assert fake.polls == ["7", "7", "7"]


async def test_request_approval_gives_up_at_its_timeout() -> None:
    fake = FakeApprovals(decide_after=10**6)
    async with TestServer(fake.app()) as server, AgentClient(str(server.make_url("/")), token()) as agent:
        with pytest.raises(TimeoutError):
            await agent.request_approval("deploy", {}, timeout_s=0.01)


async def test_a_stream_dropped_before_its_first_event_resumes_from_where_it_started(
    client: TestClient[Any, Any],
) -> None:
    async with (
        tcp_proxy(client.server.host, client.server.port) as proxy,
        AgentClient(f"http://127.0.0.1:{proxy.port}", token("service_role")) as agent,
        AgentClient(base_url(client), token("service_role")) as publisher,
    ):
        before = await publisher.publish("before.subscribing")
        first = asyncio.create_task(take(agent.stream(), 1, deadline_s=10))
        async with asyncio.timeout(5):
            while agent.position is None:  # the stream is open and has told the client its starting offset
                await asyncio.sleep(0.01)
        assert agent.position == str(before["seq"])
        proxy.drop()
        # Published while the client waits to reconnect (the server asked for a 1 s retry delay).
        during = await publisher.publish("during.the.gap")
        got = await first
    assert [g.data["id"] for g in got] == [during["id"]]
