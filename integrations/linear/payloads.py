"""Linear payloads parsed into small typed events (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from integrations.webhooks.fields import dig, text, when

NOT_ACKNOWLEDGED_STATES = frozenset({"triage", "backlog"})


class ParseError(ValueError):
    pass


@dataclass(frozen=True)
class LinearIssue:
    action: str
    issue_id: str
    identifier: str
    title: str | None
    state_type: str | None
    state_name: str | None
    assignee_id: str | None
    created_at: datetime | None
    updated_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    canceled_at: datetime | None
    url: str | None

    @property
    def acknowledged(self) -> bool:
        """Assigned, or moved out of triage/backlog."""
        return self.assignee_id is not None or (
            self.state_type is not None and self.state_type not in NOT_ACKNOWLEDGED_STATES
        )

    @property
    def started(self) -> bool:
        return self.state_type == "started"

    @property
    def completed(self) -> bool:
        return self.state_type == "completed"

    @property
    def canceled(self) -> bool:
        return self.state_type == "canceled"

    @property
    def changed_at(self) -> datetime | None:
        return self.updated_at or self.created_at


def identifier_of(data: dict[str, Any]) -> str | None:
    """``identifier`` when given; older payloads: the team key and the issue number (``WEB-44``)."""
    given = text(data.get("identifier"))
    if given:
        return given.upper()
    key, number = text(dig(data, "team", "key")), data.get("number")
    if key and isinstance(number, int) and not isinstance(number, bool):
        return f"{key.upper()}-{number}"
    return None


def parse_issue(payload: dict[str, Any]) -> LinearIssue:
    data = payload.get("data")
    if not isinstance(data, dict):
        raise ParseError("Linear Issue payload without data")
    identifier = identifier_of(data)
    issue_id = text(data.get("id"))
    if identifier is None or issue_id is None:
        raise ParseError("Linear Issue payload without an identifier (or team.key and number) and id")
    return LinearIssue(
        action=text(payload.get("action")) or "update",
        issue_id=issue_id,
        identifier=identifier,
        title=text(data.get("title")),
        state_type=text(dig(data, "state", "type")),
        state_name=text(dig(data, "state", "name")),
        assignee_id=text(data.get("assigneeId")) or text(dig(data, "assignee", "id")),
        created_at=when(data.get("createdAt")),
        updated_at=when(data.get("updatedAt")),
        started_at=when(data.get("startedAt")),
        completed_at=when(data.get("completedAt")),
        canceled_at=when(data.get("canceledAt")),
        url=text(payload.get("url")),
    )


# The issue identifier in a Linear URL (``https://linear.app/org/issue/WEB-46#comment-c7cafc52``).
IDENTIFIER_IN_URL = re.compile(r"/issue/([A-Za-z][A-Za-z0-9]{0,9}-\d+)")


@dataclass(frozen=True)
class LinearComment:
    action: str  # create | update | remove
    comment_id: str
    identifier: str | None  # None when the delivery names the issue by id only (a removed comment)
    body: str
    author: str | None

    @property
    def line(self) -> str:
        verb = {"create": "commented", "update": "edited a comment", "remove": "deleted a comment"}
        head = f"{self.author or 'Someone'} {verb.get(self.action, self.action)} in Linear"
        return head if self.action == "remove" else f"{head}: {self.body}"


def parse_comment(payload: dict[str, Any]) -> LinearComment:
    data = payload.get("data")
    comment_id = text(dig(data, "id"))
    if not isinstance(data, dict) or comment_id is None:
        raise ParseError("Linear Comment payload without data.id")
    identifier = text(dig(data, "issue", "identifier"))
    if identifier is None:
        found = IDENTIFIER_IN_URL.search(text(payload.get("url")) or "")
        identifier = found.group(1) if found else None
    return LinearComment(
        action=text(payload.get("action")) or "create",
        comment_id=comment_id,
        identifier=identifier.upper() if identifier else None,
        body=text(data.get("body")) or "",
        author=text(dig(data, "user", "name")),
    )


@dataclass(frozen=True)
class IssueSla:
    action: str  # set | highRisk | breached
    identifier: str
    breaches_at: datetime | None

    @property
    def breached(self) -> bool:
        return self.action == "breached"


def parse_issue_sla(payload: dict[str, Any]) -> IssueSla:
    """``IssueSLA`` (Linear's schema: ``issueData`` holds the issue)."""
    data = payload.get("issueData")
    if not isinstance(data, dict):
        data = payload.get("data")
    identifier = identifier_of(data) if isinstance(data, dict) else None
    if identifier is None:
        found = IDENTIFIER_IN_URL.search(text(payload.get("url")) or "")
        identifier = found.group(1).upper() if found else None
    action = text(payload.get("action"))
    if identifier is None or action is None:
        raise ParseError("Linear IssueSLA payload without issueData identifier or action")
    return IssueSla(action, identifier, when(dig(data, "slaBreachesAt")))
