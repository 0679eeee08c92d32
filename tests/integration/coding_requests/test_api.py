"""The coding agent moves its requests through /api/v1/coding-requests; the database guards the lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from app import wire
from config import Config
from jobs import outbox
from tests.conftest import bearer
from tests.fakes.slack import fake_slack

from .helpers import events, file_request, outbox_rows

URL = "/api/v1/coding-requests"


async def patch(client: TestClient[Any, Any], number: int, body: Any, role: str = "service_role") -> Any:
    return await client.patch(f"{URL}/{number}", json=body, headers=bearer(role))


async def test_the_lifecycle_through_patch(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    req = await file_request(pool)
    assert req.request_number == 1 and req.status == "pending"

    response = await patch(client, 1, {"status": "planning", "estimated_complexity": "medium"})
    assert response.status == 200
    body = await response.json()
    assert (body["status"], body["estimated_complexity"], body["started_at"]) == ("planning", "medium", None)

    plan = {"steps": ["add a theme toggle", "persist the choice"]}
    response = await patch(
        client,
        1,
        {
            "status": "in_progress",
            "implementation_plan": plan,
            "files_to_create": ["ui/theme.py"],
            "files_to_modify": ["ui/app.py"],
            "test_files": ["tests/test_theme.py"],
            "branch_name": "cr-1-dark-mode",
        },
    )
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "in_progress" and body["started_at"] is not None
    assert body["implementation_plan"] == plan and body["files_to_create"] == ["ui/theme.py"]
    assert body["branch_name"] == "cr-1-dark-mode"
    started_at = body["started_at"]

    # Back from review keeps the first start time; completion stamps completed_at.
    for status in ("in_review", "in_progress", "in_review", "completed"):
        response = await patch(client, 1, {"status": status})
        assert response.status == 200, await response.json()
    body = await response.json()
    assert body["started_at"] == started_at and body["completed_at"] is not None

    updated = await events(pool, "coding_request.updated")
    assert [(e.payload["previous_status"], e.payload["status"]) for e in updated] == [
        ("pending", "planning"),
        ("planning", "in_progress"),
        ("in_progress", "in_review"),
        ("in_review", "in_progress"),
        ("in_progress", "in_review"),
        ("in_review", "completed"),
    ]
    assert all(e.target_agent_ids == ["coding-agent"] and e.correlation_id == req.id for e in updated)
    notes = await outbox_rows(pool, "coding_request.notify")
    # The confirmation of the filing, then one message per status change, each a DM to the requester.
    assert len(notes) == 1 + 6
    assert all(n["payload"]["user"] == "U2CERLKJA" and n["payload"]["channel"] is None for n in notes)
    assert notes[-1]["payload"]["text"] == "Coding request #1 (Add dark mode) is completed."


async def test_refused_transitions_are_409_and_change_nothing(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    await file_request(pool)
    response = await patch(client, 1, {"status": "completed", "branch_name": "x"})
    assert response.status == 409
    body = await response.json()
    assert body["error"] == (
        "cannot move coding request #1 from pending to completed (allowed from pending: cancelled, failed, planning)"
    )
    assert (body["current_status"], body["requested_status"]) == ("pending", "completed")
    assert await pool.fetchval("SELECT branch_name FROM coding_requests") is None

    assert (await patch(client, 1, {"status": "cancelled"})).status == 200
    response = await patch(client, 1, {"status": "planning"})
    assert response.status == 409 and "cancelled is final" in (await response.json())["error"]
    assert [e.payload["status"] for e in await events(pool, "coding_request.updated")] == ["cancelled"]


async def test_same_status_is_a_quiet_no_op(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    await file_request(pool)
    assert (await patch(client, 1, {"status": "pending", "estimated_complexity": "small"})).status == 200
    assert await events(pool, "coding_request.updated") == []


async def test_bad_input_is_400_naming_the_field(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    await file_request(pool)
    cases = [
        ({"status": "done"}, "status"),
        ({"files_to_modify": "app.py"}, "files_to_modify"),
        ({"implementation_plan": "do it"}, "implementation_plan"),
        ({"pr_number": 4}, "pr_number"),
        ({}, "body"),
    ]
    for body, field in cases:
        response = await patch(client, 1, body)
        assert response.status == 400, body
        answer = await response.json()
        assert answer["field"] == field and answer["error"].startswith(field)
    response = await client.patch(f"{URL}/1", data=b"{not json", headers=bearer())
    assert response.status == 400 and "JSON" in (await response.json())["error"]
    response = await patch(client, 0, {"status": "planning"})
    assert response.status == 400
    assert (await client.get(f"{URL}?status=done", headers=bearer())).status == 400


async def test_reading_and_roles(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    await file_request(pool)
    await file_request(pool, source_id="command:trigger-2", title="Fix the login")
    await patch(client, 2, {"status": "planning"})

    everything = await (await client.get(URL, headers=bearer())).json()
    assert [r["request_number"] for r in everything["coding_requests"]] == [2, 1]
    planning = await (await client.get(f"{URL}?status=planning", headers=bearer())).json()
    assert [r["title"] for r in planning["coding_requests"]] == ["Fix the login"]
    one = await client.get(f"{URL}/1", headers=bearer())
    assert one.status == 200 and (await one.json())["title"] == "Add dark mode"
    missing = await client.get(f"{URL}/99", headers=bearer())
    assert missing.status == 404 and (await missing.json())["error"] == "no coding request #99"
    assert (await patch(client, 99, {"status": "planning"})).status == 404

    # authenticated: row level security shows it nothing, and it may not write.
    hidden = await (await client.get(URL, headers=bearer("authenticated"))).json()
    assert hidden == {"coding_requests": [], "next": None}
    assert (await client.get(f"{URL}/1", headers=bearer("authenticated"))).status == 404
    assert (await patch(client, 1, {"status": "planning"}, role="authenticated")).status == 403
    assert (await client.get(URL)).status == 401
    assert await pool.fetchval("SELECT status FROM coding_requests WHERE request_number = 1") == "pending"


async def test_status_messages_reach_the_requester_through_the_outbox(
    app_factory: Callable[..., Any], pool: asyncpg.Pool
) -> None:
    await file_request(pool)
    client = await app_factory()
    await patch(client, 1, {"status": "planning"})
    async with fake_slack() as fake:
        ctx = outbox.Context(
            pool=pool, config=Config(slack_bot_token="xoxb-test", slack_api_url=fake.url), handlers=wire().outbox
        )
        assert await outbox.deliver_due(ctx) == 2
        posts = fake.called("chat.postMessage")
        assert [c.args["channel"] for c in posts] == ["DU2CERLKJA", "DU2CERLKJA"]
        assert sorted(c.args["text"] for c in posts) == [
            "Coding request #1 (Add dark mode) is being planned.",
            "Coding request #1 filed: Add dark mode. I'll keep you posted here.",
        ]
        assert [c.args["users"] for c in fake.called("conversations.open")] == ["U2CERLKJA", "U2CERLKJA"]
    assert {r["status"] for r in await outbox_rows(pool, "coding_request.notify")} == {"done"}


async def test_concurrent_moves_are_settled_by_the_database(client: TestClient[Any, Any], pool: asyncpg.Pool) -> None:
    await file_request(pool)
    await patch(client, 1, {"status": "planning"})
    same = await asyncio.gather(*(patch(client, 1, {"status": "in_progress"}) for _ in range(5)))
    assert [r.status for r in same] == [200] * 5
    starts = [e for e in await events(pool, "coding_request.updated") if e.payload["status"] == "in_progress"]
    assert len(starts) == 1

    await patch(client, 1, {"status": "in_review"})
    endings = await asyncio.gather(patch(client, 1, {"status": "completed"}), patch(client, 1, {"status": "cancelled"}))
    assert sorted(r.status for r in endings) == [200, 409]
    final = await pool.fetchval("SELECT status FROM coding_requests")
    winner = next(r for r in endings if r.status == 200)
    assert (await winner.json())["status"] == final
    assert [e.payload["status"] for e in await events(pool, "coding_request.updated")][-1] == final
