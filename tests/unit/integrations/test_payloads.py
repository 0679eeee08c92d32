"""Parsers of the recorded Sentry, GitHub and Linear payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from integrations.github import payloads as github
from integrations.linear import payloads as linear
from integrations.sentry import payloads as sentry
from tests.conftest import FIXTURES


def load(source: str, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / source / f"{name}.json").read_text())
    return loaded


def test_sentry_issue_created() -> None:
    issue = sentry.parse_issue(load("sentry", "issue.created"))
    assert issue.issue_id == "1170820242" and issue.short_id == "FRONT-END-9"
    assert issue.error_type == "ReferenceError" and issue.error_value == "blooopy is not defined"
    assert issue.severity == "high" and issue.project == "front-end" and issue.count == 1
    assert issue.first_seen == datetime(2019, 8, 19, 20, 58, 37, 391000, tzinfo=UTC)
    assert issue.actor == "Sentry"


def test_sentry_issue_resolved_actor() -> None:
    issue = sentry.parse_issue(load("sentry", "issue.resolved"))
    assert issue.actor == "Hemanth V. Alluri" and issue.error_type == "Exception"
    assert issue.project == "zulip-integration-testing"


@pytest.mark.parametrize(
    ("level", "severity"),
    [("fatal", "critical"), ("error", "high"), ("warning", "medium"), ("info", "low"), (None, "low")],
)
def test_severity_from_level(level: str | None, severity: str) -> None:
    assert sentry.severity(level) == severity


def test_sentry_events() -> None:
    error = sentry.parse_event(load("sentry", "error.created"))
    assert error.issue_id == "1170820242" and error.event_id == "bb78c1407cea4519aa397afc059c793d"
    alert = sentry.parse_event(load("sentry", "event_alert.triggered"))
    assert alert.issue_id == "1117540176" and alert.seen_at is not None


def test_sentry_parse_errors() -> None:
    with pytest.raises(sentry.ParseError):
        sentry.parse_issue({"data": {}})
    with pytest.raises(sentry.ParseError):
        sentry.parse_event({"data": {"event": {}}})
    with pytest.raises(sentry.ParseError):
        sentry.parse_metric_alert({"action": "critical", "data": {}})


def test_metric_alert() -> None:
    alert = sentry.parse_metric_alert(
        {"action": "critical", "data": {"metric_alert": {"id": 7, "alert_rule": {"projects": ["api"]}}}}
    )
    assert alert.alert_id == "7" and alert.severity == "critical" and alert.projects == ("api",)


def test_workflow_runs() -> None:
    failed = github.parse_workflow_run(load("github", "workflow_run.failure"))
    assert failed.key == "clee2000/pytorch:rebase:master" and failed.failed and failed.on_default_branch
    assert failed.run_id == "3206737417"
    ok = github.parse_workflow_run(load("github", "workflow_run.success"))
    assert ok.succeeded and ok.workflow == "test" and ok.key == "octo-org/octo-repo:test:master"


def test_pull_requests() -> None:
    merged = github.parse_pull_request(load("github", "pull_request.closed.merged"))
    assert merged.merged and merged.merge_commit_sha == "a21683865c088b5fe1906cf6552d15a285a4986d"
    assert merged.identifiers == ("PATCH-1",)
    opened = github.parse_pull_request(load("github", "pull_request.opened"))
    assert opened.action == "opened" and opened.identifiers == () and not opened.merged


@pytest.mark.parametrize(
    ("texts", "found"),
    [
        (("alice/eng-123-fix-login",), ("ENG-123",)),
        (("Fix ENG-12 and WEB-4", "closes eng-12"), ("ENG-12", "WEB-4")),
        (("v1-2", "ENG-0012"), ("V1-2", "ENG-12")),
        (("nothing here", None), ()),
        (("sha256-abc", "x-1y"), ()),
    ],
)
def test_linear_identifiers(texts: tuple[str | None, ...], found: tuple[str, ...]) -> None:
    assert github.linear_identifiers(*texts) == found


def test_linear_issues_without_identifier() -> None:
    update = linear.parse_issue(load("linear", "issue.update"))
    assert update.identifier == "WEB-44" and update.started and update.acknowledged
    assert update.started_at == datetime(2023, 4, 11, 10, 10, 15, 93000, tzinfo=UTC)
    create = linear.parse_issue(load("linear", "issue.create"))
    assert create.identifier == "WEB-43" and create.state_type == "unstarted" and create.acknowledged
    assert not create.started and create.assignee_id is None


def test_linear_identifier_given_wins_and_backlog_is_not_acknowledged() -> None:
    payload = load("linear", "issue.create")
    payload["data"]["identifier"] = "eng-9"
    payload["data"]["state"]["type"] = "backlog"
    issue = linear.parse_issue(payload)
    assert issue.identifier == "ENG-9" and not issue.acknowledged
    with pytest.raises(linear.ParseError):
        linear.parse_issue({"data": {"id": "x"}})
