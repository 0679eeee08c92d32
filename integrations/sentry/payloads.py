"""Sentry integration-platform payloads parsed into small typed events (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from integrations.webhooks.fields import dig, text, when


class Resource(StrEnum):
    ISSUE = "issue"
    EVENT_ALERT = "event_alert"
    ERROR = "error"
    METRIC_ALERT = "metric_alert"
    COMMENT = "comment"
    INSTALLATION = "installation"
    SEER = "seer"


class IssueAction(StrEnum):
    CREATED = "created"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    IGNORED = "ignored"
    ARCHIVED = "archived"
    UNRESOLVED = "unresolved"


# The issue id in an issue's API or web URL (``.../api/0/issues/1635244907/``, ``.../issues/1635244907/events/...``).
ISSUE_IN_URL = re.compile(r"/issues/(\d+)(?:/|$)")
PROJECT_IN_URL = re.compile(r"/projects/[^/]+/([^/]+)/")
SEVERITY_BY_LEVEL = {"fatal": "critical", "error": "high", "warning": "medium"}


class ParseError(ValueError):
    """The payload lacks what the event needs (processing fails; the delivery stays for replay)."""


def severity(level: str | None) -> str:
    """fatal: critical, error: high, warning: medium, anything else: low."""
    return SEVERITY_BY_LEVEL.get((level or "").lower(), "low")


@dataclass(frozen=True)
class SentryIssue:
    issue_id: str
    short_id: str | None
    title: str
    level: str | None
    error_type: str
    error_value: str | None
    culprit: str | None
    project: str | None
    platform: str | None
    first_seen: datetime | None
    last_seen: datetime | None
    count: int
    status: str | None
    url: str | None
    actor: str | None

    @property
    def severity(self) -> str:
        return severity(self.level)

    def details(self) -> dict[str, Any]:
        return {
            "short_id": self.short_id,
            "culprit": self.culprit,
            "level": self.level,
            "platform": self.platform,
            "project": self.project,
            "count": self.count,
            "url": self.url,
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
        }


def _count(value: Any) -> int:
    try:
        return max(int(value), 1)
    except (TypeError, ValueError):
        return 1


def parse_issue(payload: dict[str, Any]) -> SentryIssue:
    issue = dig(payload, "data", "issue")
    issue_id = text(dig(issue, "id"))
    if not isinstance(issue, dict) or issue_id is None:
        raise ParseError("Sentry issue payload without data.issue.id")
    title = text(issue.get("title")) or f"Sentry issue {issue_id}"
    return SentryIssue(
        issue_id=issue_id,
        short_id=text(issue.get("shortId")),
        title=title,
        level=text(issue.get("level")),
        error_type=text(dig(issue, "metadata", "type")) or text(issue.get("type")) or "error",
        error_value=text(dig(issue, "metadata", "value")) or title,
        culprit=text(issue.get("culprit")),
        project=text(dig(issue, "project", "slug")),
        platform=text(issue.get("platform")),
        first_seen=when(issue.get("firstSeen")),
        last_seen=when(issue.get("lastSeen")),
        count=_count(issue.get("count")),
        status=text(issue.get("status")),
        url=text(issue.get("permalink")) or text(issue.get("web_url")),
        actor=text(dig(payload, "actor", "name")),
    )


@dataclass(frozen=True)
class SentryEvent:
    issue_id: str
    event_id: str | None
    title: str | None
    level: str | None
    seen_at: datetime | None
    url: str | None
    issue: SentryIssue  # what the event tells of its issue, to open the incident when the issue is new


def _issue_id_of(event: dict[str, Any]) -> str | None:
    """``issue_id``; older deliveries (2020) name the issue only in ``issue_url`` and ``web_url``."""
    given = text(event.get("issue_id"))
    if given:
        return given
    for key in ("issue_url", "web_url"):
        found = ISSUE_IN_URL.search(text(event.get(key)) or "")
        if found:
            return found.group(1)
    return None


def _issue_of_event(issue_id: str, event: dict[str, Any]) -> SentryIssue:
    title = text(event.get("title")) or text(event.get("message")) or f"Sentry issue {issue_id}"
    web_url = text(event.get("web_url"))
    project = PROJECT_IN_URL.search(text(event.get("url")) or "")
    seen = when(event.get("datetime")) or when(event.get("timestamp"))
    return SentryIssue(
        issue_id=issue_id,
        short_id=None,
        title=title,
        level=text(event.get("level")),
        error_type=text(dig(event, "metadata", "type")) or text(event.get("type")) or "error",
        error_value=text(dig(event, "metadata", "value")) or title,
        culprit=text(event.get("culprit")),
        project=project.group(1) if project else None,
        platform=text(event.get("platform")),
        first_seen=seen,
        last_seen=seen,
        count=1,
        status="unresolved",
        url=web_url.split("/events/")[0] + "/" if web_url and "/events/" in web_url else web_url,
        actor=None,
    )


def parse_event(payload: dict[str, Any]) -> SentryEvent:
    """An ``event_alert`` (data.event) or ``error`` (data.error) delivery: one event of an issue."""
    event = dig(payload, "data", "event")
    if not isinstance(event, dict):
        event = dig(payload, "data", "error")
    issue_id = _issue_id_of(event) if isinstance(event, dict) else None
    if not isinstance(event, dict) or issue_id is None:
        raise ParseError("Sentry event payload without data.event/data.error issue_id, issue_url or web_url")
    return SentryEvent(
        issue_id=issue_id,
        event_id=text(event.get("event_id")),
        title=text(event.get("title")),
        level=text(event.get("level")),
        seen_at=when(event.get("datetime")) or when(event.get("timestamp")),
        url=text(event.get("web_url")),
        issue=_issue_of_event(issue_id, event),
    )


@dataclass(frozen=True)
class SentryComment:
    action: str  # created | updated | deleted
    comment_id: str
    issue_id: str
    text: str
    author: str | None
    by_application: bool  # an integration (possibly this one) wrote it, not a person

    @property
    def line(self) -> str:
        verb = {"created": "commented", "updated": "edited a comment", "deleted": "deleted a comment"}
        head = f"{self.author or 'Someone'} {verb.get(self.action, self.action)} in Sentry"
        return head if self.action == "deleted" else f"{head}: {self.text}"


def parse_comment(payload: dict[str, Any]) -> SentryComment:
    data, action = payload.get("data"), text(payload.get("action"))
    issue_id, comment_id = text(dig(data, "issue_id")), text(dig(data, "comment_id"))
    if not isinstance(data, dict) or issue_id is None or comment_id is None or action is None:
        raise ParseError("Sentry comment payload without data.issue_id, data.comment_id or action")
    return SentryComment(
        action=action,
        comment_id=comment_id,
        issue_id=issue_id,
        text=text(data.get("comment")) or "",
        author=text(dig(payload, "actor", "name")),
        by_application=text(dig(payload, "actor", "type")) == "application",
    )


@dataclass(frozen=True)
class SentryInstallation:
    action: str  # created | deleted
    uuid: str
    organization: str | None
    app: str | None


def parse_installation(payload: dict[str, Any]) -> SentryInstallation:
    inst = dig(payload, "data", "installation")
    if not isinstance(inst, dict):
        inst = payload.get("installation")
    uuid, action = text(dig(inst, "uuid")), text(payload.get("action"))
    if uuid is None or action is None:
        raise ParseError("Sentry installation payload without installation.uuid or action")
    return SentryInstallation(action, uuid, text(dig(inst, "organization", "slug")), text(dig(inst, "app", "slug")))


@dataclass(frozen=True)
class SeerEvent:
    action: str
    run_id: str | None
    issue_id: str
    pr_urls: tuple[str, ...]
    root_cause: str | None


def parse_seer(payload: dict[str, Any]) -> SeerEvent:
    data, action = payload.get("data"), text(payload.get("action"))
    issue_id = text(dig(data, "group_id"))
    if not isinstance(data, dict) or issue_id is None or action is None:
        raise ParseError("Sentry seer payload without data.group_id or action")
    prs = data.get("pull_requests")
    urls = tuple(
        url for pr in (prs if isinstance(prs, list) else []) if (url := text(dig(pr, "pull_request", "pr_url")))
    )
    return SeerEvent(
        action=action,
        run_id=text(data.get("run_id")),
        issue_id=issue_id,
        pr_urls=urls,
        root_cause=text(dig(data, "root_cause", "description")),
    )


@dataclass(frozen=True)
class MetricAlert:
    alert_id: str
    action: str  # critical | warning | resolved
    title: str
    description: str | None
    projects: tuple[str, ...]
    url: str | None
    started_at: datetime | None

    @property
    def severity(self) -> str:
        return "critical" if self.action == "critical" else "medium"


def parse_metric_alert(payload: dict[str, Any]) -> MetricAlert:
    alert = dig(payload, "data", "metric_alert")
    alert_id = text(dig(alert, "id")) or text(dig(alert, "identifier"))
    action = text(payload.get("action"))
    if not isinstance(alert, dict) or alert_id is None or action is None:
        raise ParseError("Sentry metric_alert payload without data.metric_alert.id or action")
    projects = dig(alert, "alert_rule", "projects")
    return MetricAlert(
        alert_id=alert_id,
        action=action,
        title=text(dig(payload, "data", "description_title")) or text(alert.get("title")) or f"Metric alert {alert_id}",
        description=text(dig(payload, "data", "description_text")),
        projects=tuple(p for p in projects if isinstance(p, str)) if isinstance(projects, list) else (),
        url=text(dig(payload, "data", "web_url")),
        started_at=when(alert.get("date_started")) or when(alert.get("date_detected")),
    )
