"""The bus over HTTP: RLS by role, cursors, and the SSE stream's resume, replicas and reconnects."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from domain.bus import events as bus
from domain.bus import fanout
from domain.bus.events import CHANNEL
from handlers.api import events as events_api
from handlers.keys import HUB
from tests.conftest import bearer
from tests.integration.agents.sse import SSE

SERVICE = bearer("service_role")
READER = bearer("authenticated")


def event(event_type: str, targets: list[str] | None = None, **payload: Any) -> dict[str, Any]:
    return {
        "source_agent_id": "triage-1",
        "source_agent_type": "triage",
        "event_type": event_type,
        "payload": payload,
        "target_agent_ids": targets or [],
    }


async def publish(client: TestClient[Any, Any], body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/events", json=body, headers=SERVICE)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def test_service_role_publishes_authenticated_reads_but_cannot_write(client: TestClient[Any, Any]) -> None:
    correlation = str(uuid.uuid4())
    created = await publish(client, {**event("incident.detected", ["fixer-1"], n=1), "correlation_id": correlation})
    assert created["seq"] >= 1 and created["correlation_id"] == correlation and created["payload"] == {"n": 1}

    refused = await client.post("/api/v1/events", json=event("x.y"), headers=READER)
    assert refused.status == 403 and "error" in await refused.json()

    page = await client.get("/api/v1/events", params={"correlation_id": correlation}, headers=READER)
    assert page.status == 200
    assert [e["id"] for e in (await page.json())["events"]] == [created["id"]]


async def test_pages_follow_the_cursor_and_the_target(client: TestClient[Any, Any]) -> None:
    mine = [await publish(client, event("t.mine", ["a"], i=i)) for i in range(3)]
    await publish(client, event("t.other", ["b"]))
    broadcast = await publish(client, event("t.all"))
    first = await (await client.get("/api/v1/events", params={"target": "a", "limit": "2"}, headers=SERVICE)).json()
    assert [e["id"] for e in first["events"]] == [mine[0]["id"], mine[1]["id"]]
    rest = await (
        await client.get("/api/v1/events", params={"target": "a", "after": str(first["next_cursor"])}, headers=SERVICE)
    ).json()
    assert [e["id"] for e in rest["events"]] == [mine[2]["id"], broadcast["id"]]
    empty = await (
        await client.get("/api/v1/events", params={"target": "a", "after": str(rest["next_cursor"])}, headers=SERVICE)
    ).json()
    assert empty == {"events": [], "next_cursor": rest["next_cursor"]}
    bad = await client.get("/api/v1/events", params={"after": "-1"}, headers=SERVICE)
    assert bad.status == 400


async def test_stream_resumes_after_a_disconnect_without_gap_or_duplicate(client: TestClient[Any, Any]) -> None:
    sent = [await publish(client, event("s.e", ["a"], i=i)) for i in range(3)]
    async with client.get(
        "/api/v1/events/stream", params={"target": "a"}, headers={**READER, "Last-Event-ID": "0"}
    ) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
        got = await SSE(response).events(2)
    assert [e["id"] for e in got] == [s["id"] for s in sent[:2]]

    sent += [await publish(client, event("s.e", ["a"], i=i)) for i in range(3, 5)]
    async with client.get(
        "/api/v1/events/stream", params={"target": "a"}, headers={**READER, "Last-Event-ID": str(got[-1]["seq"])}
    ) as response:
        stream = SSE(response)
        resumed = await stream.events(3)
        live = await publish(client, event("s.e", ["a"], i=5))
        resumed += await stream.events(1)
        marker = await publish(client, event("s.marker", ["a"]))  # in seq order: anything else comes first
        resumed += await stream.events(1)
    assert [e["id"] for e in resumed] == [s["id"] for s in sent[2:]] + [live["id"], marker["id"]]


async def test_a_new_stream_starts_at_the_tail(client: TestClient[Any, Any]) -> None:
    await publish(client, event("old"))
    async with client.get("/api/v1/events/stream", headers=SERVICE) as response:
        stream = SSE(response)
        await stream.until_connected()
        new = await publish(client, event("new"))
        assert [e["id"] for e in await stream.events(1)] == [new["id"]]


async def test_a_publish_on_another_replica_reaches_the_stream(app_factory: Callable[..., Any]) -> None:
    first, second = await app_factory(), await app_factory()
    async with first.get("/api/v1/events/stream", params={"target": "z"}, headers=READER) as response:
        stream = SSE(response)
        await stream.until_connected()
        created = await publish(second, event("cross.replica", ["z"]))
        got = await stream.events(1, deadline_s=10)
    assert got[0]["id"] == created["id"]


async def test_a_rolled_back_publish_is_never_streamed(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    async with client.get("/api/v1/events/stream", headers=SERVICE) as response:
        stream = SSE(response)
        await stream.until_connected()
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            await bus.publish(conn, "rolled.back", {})
            await tx.rollback()
        kept = await publish(client, event("kept"))
        marker = await publish(client, event("marker"))  # in seq order: anything else comes first
        got = await stream.events(2)
    assert [e["id"] for e in got] == [kept["id"], marker["id"]]


async def test_a_dropped_listen_connection_is_re_established(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    hub = client.app[HUB]
    await asyncio.wait_for(hub.listening.wait(), 5)
    old_pid = hub.listener_pid
    async with client.get("/api/v1/events/stream", headers=SERVICE) as response:
        stream = SSE(response)
        await stream.until_connected()
        assert await pool.fetchval("SELECT pg_terminate_backend($1)", old_pid)
        # Published while the listener may be down: the re-established listener wakes the stream to re-read.
        async with pool.acquire() as conn:
            await bus.publish(conn, "after.drop", {})
        got = await stream.events(1, deadline_s=10)
        assert got[0]["event_type"] == "after.drop"
        async with asyncio.timeout(5):
            while hub.listener_pid in (None, old_pid):
                await asyncio.sleep(0.02)
        async with pool.acquire() as conn:
            await bus.publish(conn, "after.reconnect", {})
        assert (await stream.events(1, deadline_s=10))[0]["event_type"] == "after.reconnect"


async def test_publishes_are_answered_with_their_seq_also_while_the_listen_connection_is_down(
    client: TestClient[Any, Any], pool: asyncpg.Pool
) -> None:
    """The process's bus reader numbers a publish and answers it; without the NOTIFY that wakes it, the
    publish is numbered all the same (by the reader's poll, or by the publish itself after a while)."""
    hub = client.app[HUB]
    async with asyncio.timeout(5):
        await hub.listening.wait()
    live = await asyncio.gather(*(publish(client, event(f"live.{n}")) for n in range(5)))
    assert await pool.fetchval("SELECT pg_terminate_backend($1)", hub.listener_pid)
    async with asyncio.timeout(10):
        cut = await asyncio.gather(*(publish(client, event(f"cut.{n}")) for n in range(5)))
    answered = {e["event_type"]: e["seq"] for e in [*live, *cut]}
    page = await client.get("/api/v1/events", params={"after": min(answered.values()) - 1}, headers=SERVICE)
    stored = {e["event_type"]: e["seq"] for e in (await page.json())["events"]}
    assert answered == stored and len(set(answered.values())) == 10


async def test_stream_refuses_a_bad_resume_point_and_no_token(client: TestClient[Any, Any]) -> None:
    bad = await client.get("/api/v1/events/stream", headers={**SERVICE, "Last-Event-ID": "abc"})
    assert bad.status == 400
    anonymous = await client.get("/api/v1/events/stream")
    assert anonymous.status == 401


async def test_a_backlog_larger_than_a_page_arrives_whole_and_in_order(
    client: TestClient[Any, Any], pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for i in range(250):  # 2.5 pages of the stream's bounded reads
            await bus.publish(conn, "backlog", {"i": i})
    async with client.get("/api/v1/events/stream", headers={**READER, "Last-Event-ID": "0"}) as response:
        got = await SSE(response).events(250, deadline_s=10)
    assert [e["payload"]["i"] for e in got] == list(range(250))


async def test_an_idle_stream_gets_heartbeats(client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_api, "HEARTBEAT_S", 0.05)
    async with client.get("/api/v1/events/stream", headers=SERVICE) as response:
        async with asyncio.timeout(5):
            lines = []
            while lines.count(b": heartbeat\n") < 2:
                lines.append(await response.content.readline())
        assert client.app[HUB].subscribers(CHANNEL) == 1


async def test_a_stream_ends_when_its_token_expires(client: TestClient[Any, Any]) -> None:
    async with client.get("/api/v1/events/stream", headers=bearer("authenticated", expires_in=2)) as response:
        await SSE(response).until_connected()
        async with asyncio.timeout(10):
            rest = await response.content.read()  # returns at the end of the stream
    assert b"id:" not in rest


async def test_one_reader_feeds_every_stream_and_a_quiet_filter_still_advances_its_cursor(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many streams are open, the process listens and reads once (the bus reader); a filtered
    stream with no match is told how far it has scanned (`id:` on a `: scanned` comment)."""
    monkeypatch.setattr(events_api, "HEARTBEAT_S", 0.2)
    async with (
        client.get("/api/v1/events/stream", params={"target": "quiet"}, headers=READER) as quiet,
        client.get("/api/v1/events/stream", params={"target": "busy"}, headers=READER) as busy,
    ):
        await SSE(quiet).until_connected()
        stream = SSE(busy)
        await stream.until_connected()
        assert client.app[HUB].subscribers(CHANNEL) == 1
        sent = [await publish(client, event("only.busy", ["busy"], i=i)) for i in range(3)]
        assert [e["id"] for e in await stream.events(3)] == [s["id"] for s in sent]
        async with asyncio.timeout(5):
            while (line := await quiet.content.readline()) != f"id: {sent[-1]['seq']}\n".encode():
                assert not line.startswith(b"data:"), line
    page = await client.get("/api/v1/events", params={"target": "quiet"}, headers=READER)
    assert await page.json() == {"events": [], "next_cursor": sent[-1]["seq"]}


async def test_an_authenticated_stream_sees_exactly_what_rls_lets_it_read(
    client: TestClient[Any, Any], pool: asyncpg.Pool
) -> None:
    """The shared reader reads as the owner; each stream gets what the seed's policies give its role."""
    backlog = [await publish(client, event("rls.old", targets, i=i)) for i, targets in enumerate([["a"], [], ["b"]])]
    async with client.get("/api/v1/events/stream", headers={**READER, "Last-Event-ID": "0"}) as response:
        stream = SSE(response)
        got = await stream.events(3)
        async with pool.acquire() as conn:  # plain SQL, also outside the API: agents may insert directly
            await bus.publish(conn, "rls.live", {}, targets=["c"])
        got += await stream.events(1)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)",
            '{"role": "authenticated"}',
        )
        allowed = [str(r["id"]) for r in await conn.fetch("SELECT e.id FROM agent_events e ORDER BY e.created_at")]
    assert sorted(e["id"] for e in got) == sorted(allowed) and len(allowed) == 4
    assert [e["id"] for e in got[:3]] == [b["id"] for b in backlog]


async def test_a_slow_client_costs_a_bounded_queue_and_still_gets_everything_in_order(
    client: TestClient[Any, Any], pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that stops reading while more than a queue's worth of events is published: its stream is
    dropped to reading the table itself (no unbounded buffer), then delivers every event once, in order."""
    monkeypatch.setattr(fanout, "DEPTH", 16)
    n = 200
    reader = client.app[events_api.READER]
    async with client.get("/api/v1/events/stream", headers=READER) as response:
        stream = SSE(response)
        await stream.until_connected()
        blob = "x" * 100_000  # 20 MB in all: more than the socket buffers hold
        async with pool.acquire() as conn:
            for i in range(n):  # the client reads nothing meanwhile
                await bus.publish(conn, "slow", {"i": i, "blob": blob})
            await bus.sequence(conn)
        async with asyncio.timeout(10):
            while not any(s.behind for s in reader.subscriptions):
                await asyncio.sleep(0.01)
        assert all(len(s.queue) <= fanout.DEPTH for s in reader.subscriptions)
        got = await stream.events(n, deadline_s=30)
    assert [e["payload"]["i"] for e in got] == list(range(n))
