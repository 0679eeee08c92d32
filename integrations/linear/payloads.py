"""Linear payloads parsed into small typed events (pure)."""

from __future__ import annotations

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
