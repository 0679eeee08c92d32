"""The order key of a verified delivery: deliveries with the same key are processed one at a time, in
arrival order (the inbox workers, jobs/inbox.py). Pure.

A Sentry issue (its events, comments, Seer runs and the issue itself), a CI key (repository, workflow or
check, branch), a deployment environment, a security alert, a pull request, a Linear issue. None where a
delivery orders against nothing (a ping, an installation) or names nothing this can read: it is then
processed as soon as a worker is free, and a payload that does not parse fails on its own.
"""

from __future__ import annotations

from typing import Any

from integrations.github import payloads as github
from integrations.linear import payloads as linear
from integrations.sentry import payloads as sentry

ALERT_KINDS = frozenset(kind.value for kind in github.AlertKind)


def _sentry(event_type: str, payload: dict[str, Any]) -> str | None:
    if event_type == sentry.Resource.ISSUE:
        return sentry.parse_issue(payload).issue_id
    if event_type in (sentry.Resource.EVENT_ALERT, sentry.Resource.ERROR):
        return sentry.parse_event(payload).issue_id
    if event_type == sentry.Resource.COMMENT:
        return sentry.parse_comment(payload).issue_id
    if event_type == sentry.Resource.SEER:
        return sentry.parse_seer(payload).issue_id
    if event_type == sentry.Resource.METRIC_ALERT:
        return f"metric_alert:{sentry.parse_metric_alert(payload).alert_id}"
    return None


def _github(event_type: str, payload: dict[str, Any]) -> str | None:
    if event_type == "workflow_run":
        return github.parse_workflow_run(payload).key
    if event_type in ("check_suite", "check_run"):
        check = github.parse_check(payload, github.CiKind(event_type))
        return check.key if check is not None else None
    if event_type == "status":
        return github.parse_status(payload).key
    if event_type == "deployment_status":
        return github.parse_deployment_status(payload).key
    if event_type in ALERT_KINDS:
        return github.parse_security_alert(payload, github.AlertKind(event_type)).key
    if event_type == "pull_request":
        pr = github.parse_pull_request(payload)
        return f"pr:{pr.repository}#{pr.number}"
    return None


def _linear(event_type: str, payload: dict[str, Any]) -> str | None:
    if event_type == "Issue":
        return linear.parse_issue(payload).identifier
    if event_type == "Comment":
        return linear.parse_comment(payload).identifier
    if event_type == "IssueSLA":
        return linear.parse_issue_sla(payload).identifier
    return None


def order_key(source: str, event_type: str, payload: dict[str, Any]) -> str | None:
    """``source:key`` for the thing the delivery is about, or None."""
    read = {"sentry": _sentry, "github": _github, "linear": _linear}.get(source)
    try:
        key = read(event_type, payload) if read is not None else None
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return f"{source}:{key}" if key else None
