"""Pure parsers: GitHub ``pull_request`` and Linear ``Issue`` deliveries -> what coding requests need."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.coding_requests.rules import (
    NewRequest,
    PullRequestFact,
    matching_labels,
    priority_from_linear,
    referenced_numbers,
    request_type_from_labels,
)

PR_OPENED_ACTIONS = frozenset({"opened", "reopened", "ready_for_review"})


def pull_request(payload: dict[str, Any]) -> PullRequestFact | None:
    """The fact a ``pull_request`` delivery reports, or None for actions that change nothing here."""
    action = payload.get("action")
    pr = payload.get("pull_request") or {}
    if action in PR_OPENED_ACTIONS:
        # A draft is linked (its URL shows in Slack) but is not yet a review.
        fact = "draft" if pr.get("draft") else "opened"
    elif action == "closed":
        fact = "merged" if pr.get("merged") else "closed"
    else:
        return None
    head = pr.get("head") or {}
    branch = str(head.get("ref") or "")
    head_repo = (head.get("repo") or {}).get("full_name")  # null when the fork was deleted
    title = str(pr.get("title") or "")
    return PullRequestFact(
        action=fact,
        repo=str((payload.get("repository") or {}).get("full_name") or ""),
        number=int(pr.get("number") or payload.get("number") or 0),
        url=str(pr.get("html_url") or ""),
        branch=branch,
        title=title,
        references=tuple(referenced_numbers(branch, title)),
        head_repo=str(head_repo) if head_repo else None,
    )


def _label_names(data: dict[str, Any]) -> list[str]:
    return [str(label.get("name")) for label in data.get("labels") or [] if label.get("name")]


def linear_issue(payload: dict[str, Any], wanted_labels: Iterable[str]) -> NewRequest | None:
    """A coding request for a Linear ``Issue`` create/update carrying a configured label, else None.

    An update counts whenever the issue carries such a label (a label added now, or one that was there
    before the setting named it); creation is idempotent on the issue id, so redeliveries and later
    edits file nothing twice.
    """
    if payload.get("type") != "Issue" or payload.get("action") not in ("create", "update"):
        return None
    data = payload.get("data") or {}
    labels = _label_names(data)
    if not data.get("id") or not matching_labels(labels, wanted_labels):
        return None
    return NewRequest(
        source="linear",
        source_id=str(data["id"]),
        source_url=payload.get("url") or data.get("url"),
        title=str(data.get("title") or f"Linear issue {data.get('number', '')}").strip()[:500],
        description=data.get("description"),
        request_type=request_type_from_labels(labels),
        priority=priority_from_linear(data.get("priority")),
        requested_by_id=data.get("creatorId"),
        requested_by_name=(data.get("creator") or {}).get("name"),
        requested_by_email=(data.get("creator") or {}).get("email"),
    )
