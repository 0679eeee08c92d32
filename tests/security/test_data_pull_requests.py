"""Defect 8: a pull request from any repository or fork cannot move a coding request by naming it.

The recorded GitHub deliveries are used as they are; an attack variant is a copy altered in the test.
``pull_request.opened`` is a same-repository pull request (Codertocat/Hello-World, branch ``changes``);
``pull_request.closed.merged`` comes from a fork (byao1276/... into ailisp/gcbapp-buildconfig-example).
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import asyncpg
import pytest

from domain.coding_requests.payloads import pull_request
from domain.coding_requests.rules import linkable
from tests.conftest import FIXTURES
from tests.integration.coding_requests.helpers import file_request
from tests.integration.coding_requests.test_webhooks import PR_MERGED, PR_OPENED, dispatch, event, move

HELLO = "Codertocat/Hello-World"


def altered(recorded: dict[str, Any], *, title: str | None = None, head_repo: str | None = None) -> dict[str, Any]:
    payload = copy.deepcopy(recorded)
    if title is not None:
        payload["pull_request"]["title"] = title
    if head_repo is not None:
        payload["pull_request"]["head"]["repo"]["full_name"] = head_repo
    return payload


async def allow(pool: asyncpg.Pool, repositories: list[str]) -> None:
    await pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'coding_requests.repositories'",
        repositories,
    )


async def state(pool: asyncpg.Pool) -> tuple[str, str | None]:
    row = await pool.fetchrow("SELECT status, pr_url FROM coding_requests WHERE request_number = 1")
    return row["status"], row["pr_url"]


async def test_the_setting_is_seeded_empty_with_a_schema(pool: asyncpg.Pool) -> None:
    row = await pool.fetchrow(
        "SELECT config_value, value_schema, description FROM agent_swarm_config"
        " WHERE config_key = 'coding_requests.repositories'"
    )
    assert row["config_value"] == [] and row["value_schema"]["type"] == "array" and "fork" in row["description"]


async def test_a_title_naming_a_request_moves_nothing_without_a_list(
    pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    await file_request(pool)
    caplog.set_level(logging.INFO)
    attack = altered(PR_OPENED, title="Update the README (cr-1)")
    assert await dispatch(pool, event("github", "pull_request", attack))
    assert await state(pool) == ("pending", None)
    (logged,) = [r.fields for r in caplog.records if r.getMessage() == "coding_request.pull_request_restricted"]
    assert (logged["repo"], logged["ignored_references"], logged["by_branch"]) == (HELLO, [1], True)


async def test_a_fork_cannot_link_by_title_even_into_a_listed_repository(pool: asyncpg.Pool) -> None:
    await file_request(pool)
    await allow(pool, [HELLO])
    fork = altered(PR_OPENED, title="Update the README (cr-1)", head_repo="mallory/Hello-World")
    assert await dispatch(pool, event("github", "pull_request", fork))
    assert await state(pool) == ("pending", None)
    # The same title from the listed repository itself links.
    own = altered(PR_OPENED, title="Update the README (cr-1)")
    assert await dispatch(pool, event("github", "pull_request", own, delivery="d-2"))
    assert await state(pool) == ("in_review", PR_OPENED["pull_request"]["html_url"])


async def test_an_unlisted_repository_links_nothing_not_even_by_branch(pool: asyncpg.Pool) -> None:
    await file_request(pool)
    await move(pool, 1, branch_name=PR_OPENED["pull_request"]["head"]["ref"])
    await allow(pool, ["our-org/service"])
    assert await dispatch(pool, event("github", "pull_request", PR_OPENED))
    assert await state(pool) == ("pending", None)
    await allow(pool, ["codertocat/hello-world"])  # GitHub names compare case-insensitively
    assert await dispatch(pool, event("github", "pull_request", PR_OPENED, delivery="d-2"))
    assert (await state(pool))[1] == PR_OPENED["pull_request"]["html_url"]


async def test_the_recorded_fork_links_only_by_the_recorded_branch(pool: asyncpg.Pool) -> None:
    await file_request(pool)
    await file_request(pool, source_id="command:t2", title="Other")
    await move(pool, 2, branch_name=PR_MERGED["pull_request"]["head"]["ref"])
    named = altered(PR_MERGED, title="Byao1276 patch 1 (cr-1)")
    assert await dispatch(pool, event("github", "pull_request", named))
    rows = await pool.fetch("SELECT request_number, pr_status FROM coding_requests ORDER BY request_number")
    assert [tuple(r) for r in rows] == [(1, None), (2, "merged")]


def test_the_rule_on_the_recorded_payloads() -> None:
    opened = pull_request(PR_OPENED)
    merged = pull_request(PR_MERGED)
    assert opened is not None and merged is not None
    assert not opened.from_fork and merged.from_fork and merged.head_repo == "byao1276/gcbapp-buildconfig-example"
    named = pull_request(altered(PR_OPENED, title="cr-1 and cr-2"))
    assert named is not None and named.references == (1, 2)
    assert linkable(named, []) == ("changes", [])
    assert linkable(named, [HELLO]) == ("changes", [1, 2])
    assert linkable(named, ["o/r"]) == (None, [])
    fork = pull_request(altered(PR_OPENED, title="cr-1", head_repo="mallory/Hello-World"))
    assert fork is not None and linkable(fork, [HELLO]) == ("changes", [])
    gone = copy.deepcopy(PR_OPENED)
    gone["pull_request"]["head"]["repo"] = None  # a deleted fork: where the branch lived is unknown
    deleted = pull_request(gone)
    assert deleted is not None and deleted.from_fork
    recorded = json.loads((FIXTURES / "github" / "pull_request.opened.json").read_text())
    assert PR_OPENED == recorded, "the recording itself is never altered"
