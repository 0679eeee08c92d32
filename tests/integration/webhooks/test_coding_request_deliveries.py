"""Coding requests from signed deliveries through the real endpoint: a labelled Linear issue files one,
GitHub pull requests carry it to review and to merge. Redeliveries have no second effect."""

from __future__ import annotations

import json

from domain.coding_requests import store as coding_requests
from domain.coding_requests.rules import Changes, Status
from tests.integration.coding_requests.helpers import events, file_request
from tests.integration.webhooks.conftest import World, fixture_bytes, linear_body

PR_OPENED = fixture_bytes("github", "pull_request.opened")
PR_MERGED = fixture_bytes("github", "pull_request.closed.merged")


async def move(world: World, number: int, **changes: object) -> None:
    async with world.pool.acquire() as conn, conn.transaction():
        await coding_requests.change(conn, number, Changes(**changes))  # type: ignore[arg-type]


async def test_a_labelled_linear_issue_delivered_twice_files_one_request(world: World) -> None:
    await world.pool.execute(
        "UPDATE agent_swarm_config SET config_value = '[\"custom label\"]' "
        "WHERE config_key = 'coding_requests.linear_labels'"
    )
    body = linear_body("issue.update")
    first = await world.send.linear(body, delivery="lin-cr-1")
    again = await world.send.linear(body, delivery="lin-cr-1")
    assert first.status == 200 and (await first.json())["ok"] is True
    assert again.status == 200 and (await again.json())["duplicate"] is True
    rows = await world.pool.fetch("SELECT source, source_id, status FROM coding_requests")
    assert [tuple(r) for r in rows] == [("linear", json.loads(body)["data"]["id"], "pending")]
    assert len(await events(world.pool, "coding_request.created")) == 1


async def test_pull_requests_carry_a_request_to_review_and_merge(world: World) -> None:
    await file_request(world.pool, source_id="command:opened")
    await move(world, 1, status=Status.PLANNING, branch_name=json.loads(PR_OPENED)["pull_request"]["head"]["ref"])
    response = await world.send.github(PR_OPENED, "pull_request")
    assert response.status == 200
    row = await world.pool.fetchrow("SELECT status, pr_status, pr_number FROM coding_requests WHERE request_number = 1")
    assert tuple(row) == ("in_review", "open", 2)

    await file_request(world.pool, source_id="command:merged")
    await move(world, 2, status=Status.PLANNING)
    await move(world, 2, status=Status.IN_PROGRESS, branch_name=json.loads(PR_MERGED)["pull_request"]["head"]["ref"])
    for _ in range(2):
        response = await world.send.github(PR_MERGED, "pull_request", delivery="gh-merged-1")
        assert response.status == 200
    row = await world.pool.fetchrow(
        "SELECT status, pr_status, completed_at FROM coding_requests WHERE request_number = 2"
    )
    assert (row["status"], row["pr_status"]) == ("completed", "merged") and row["completed_at"] is not None
    completed = [e for e in await events(world.pool, "coding_request.updated") if e.payload["status"] == "completed"]
    assert len(completed) == 1, "the redelivery had no second effect"
