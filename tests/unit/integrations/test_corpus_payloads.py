"""Parsers on the stored public corpus (tests/fixtures/<source>/corpus/): what issue 12 found them missing."""

from __future__ import annotations

import json
from typing import Any

from integrations.github import payloads as github
from integrations.linear import payloads as linear
from integrations.sentry import payloads as sentry
from tests.conftest import FIXTURES


def corpus(source: str, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / source / "corpus" / f"{name}.json").read_text())
    return loaded


def test_sentry_event_naming_its_issue_only_in_issue_url() -> None:
    event = sentry.parse_event(corpus("sentry", "event_alert.triggered.zulip.message-golang"))
    assert event.issue_id == "1638844654" and event.issue.project == "zulip-integration-testing"
    assert event.issue.title == "A test message event from golang." and event.issue.severity == "low"


def test_web_edit_branches_name_no_issue_of_an_unknown_team() -> None:
    assert github.linear_identifiers("octocat-patch-1", known_keys=frozenset({"ENG"})) == ()
    assert github.linear_identifiers("octocat-patch-1 ENG-7", known_keys=frozenset({"ENG"})) == ("ENG-7",)


def test_a_forks_run_is_not_on_the_default_branch() -> None:
    payload = corpus("github", "workflow_run.completed.payload")
    assert github.parse_workflow_run(payload).on_default_branch
    payload["workflow_run"]["head_repository"]["full_name"] = "someone/octo-repo"
    assert not github.parse_workflow_run(payload).on_default_branch


def test_status_check_and_alerts() -> None:
    status = github.parse_status(corpus("github", "status.payload"))
    assert status.on_default_branch and status.succeeded and status.key == "Codertocat/Hello-World:default:master"
    assert github.parse_check(corpus("github", "check_run.completed.1.payload"), github.CiKind.CHECK_RUN) is None
    code = github.parse_security_alert(
        corpus("github", "code_scanning_alert.created.payload"), github.AlertKind.CODE_SCANNING
    )
    assert code.severity == "high" and code.opens
    secret = github.parse_security_alert(
        corpus("github", "secret_scanning_alert.reopened.payload"), github.AlertKind.SECRET_SCANNING
    )
    assert secret.severity == "critical" and secret.reopens


def test_sentry_comment_seer_and_linear_comment() -> None:
    comment = sentry.parse_comment(corpus("sentry", "comment.created.ipe"))
    assert comment.issue_id == "123" and not comment.by_application
    seer = sentry.parse_seer(corpus("sentry", "seer.pr_created.sentry-docs"))
    assert seer.issue_id == "1170820242" and seer.pr_urls == ("https://github.com/owner/repo/pull/123",)
    assert linear.parse_comment(corpus("linear", "Comment.create.zulip")).identifier == "WEB-46"
    assert linear.parse_comment(corpus("linear", "Comment.remove.zulip")).identifier is None
