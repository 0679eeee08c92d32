"""Recorded GitHub and Linear deliveries parsed into what coding requests need."""

from __future__ import annotations

import json
from typing import Any

from domain.coding_requests import payloads as parse
from domain.coding_requests.rules import Priority, RequestType
from tests.conftest import FIXTURES


def load(path: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / path).read_text())
    return loaded


def test_pull_request_opened() -> None:
    fact = parse.pull_request(load("github/pull_request.opened.json"))
    assert fact is not None
    assert (fact.action, fact.repo, fact.number, fact.branch) == ("opened", "Codertocat/Hello-World", 2, "changes")
    assert fact.url == "https://github.com/Codertocat/Hello-World/pull/2" and fact.references == ()


def test_pull_request_merged() -> None:
    fact = parse.pull_request(load("github/pull_request.closed.merged.json"))
    assert fact is not None
    assert (fact.action, fact.number, fact.branch) == ("merged", 3, "byao1276-patch-1")


def test_other_pull_request_actions_are_ignored() -> None:
    payload = load("github/pull_request.opened.json")
    assert parse.pull_request({**payload, "action": "labeled"}) is None
    closed = {**payload, "action": "closed", "pull_request": {**payload["pull_request"], "merged": False}}
    fact = parse.pull_request(closed)
    assert fact is not None and fact.action == "closed"
    draft = {**payload, "pull_request": {**payload["pull_request"], "draft": True}}
    fact = parse.pull_request(draft)
    assert fact is not None and fact.action == "draft"


def test_linear_issue_without_a_configured_label_files_nothing() -> None:
    assert parse.linear_issue(load("linear/issue.create.json"), ["coding-agent"]) is None
    assert parse.linear_issue(load("linear/issue.update.json"), ["coding-agent"]) is None


def test_linear_issue_with_a_configured_label() -> None:
    new = parse.linear_issue(load("linear/issue.update.json"), ["custom label"])
    assert new is not None
    assert (new.source, new.source_id) == ("linear", "3443a709-f2b5-46f2-a136-a0445fd432be")
    assert new.source_url == (
        "https://linear.app/webhooks/issue/WEB-44/this-is-regarding-the-outage-that-we-faced-on-111222-from-2000-to-2200"
    )
    assert new.priority is Priority.URGENT  # Linear priority 1
    assert new.request_type is RequestType.BUG  # labels Bug and Feature: bug wins
    assert new.title.startswith("This is regarding the outage")
