"""Sentry integration-platform payloads parsed into small typed events (pure)."""

from __future__ import annotations

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


class IssueAction(StrEnum):
    CREATED = "created"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    IGNORED = "ignored"
    ARCHIVED = "archived"
    UNRESOLVED = "unresolved"


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


def parse_event(payload: dict[str, Any]) -> SentryEvent:
    """An ``event_alert`` (data.event) or ``error`` (data.error) delivery: one event of an issue."""
    event = dig(payload, "data", "event")
    if not isinstance(event, dict):
        event = dig(payload, "data", "error")
    issue_id = text(dig(event, "issue_id"))
    if not isinstance(event, dict) or issue_id is None:
        raise ParseError("Sentry event payload without data.event/data.error issue_id")
    return SentryEvent(
        issue_id=issue_id,
        event_id=text(event.get("event_id")),
        title=text(event.get("title")),
        level=text(event.get("level")),
        seen_at=when(event.get("datetime")) or when(event.get("timestamp")),
        url=text(event.get("web_url")),
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
