"""Coding requests as pure rules: the status lifecycle, the vocabularies, and references to requests.

Lifecycle: ``pending -> planning -> in_progress -> in_review -> completed``; any open status may end in
``failed`` or ``cancelled``; a review may send work back (``in_review -> in_progress``). Facts reported
by GitHub (a pull request opened or merged) may skip steps forwards along the main line, because the
work happened whether or not the agent reported each step. Everything else is refused.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PENDING = "pending"
    PLANNING = "planning"
    IN_PROGRESS = "in_progress"
    IN_REVIEW = "in_review"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RequestType(StrEnum):
    FEATURE = "feature"
    BUG = "bug"
    CHORE = "chore"
    REFACTOR = "refactor"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class PrStatus(StrEnum):
    OPEN = "open"
    MERGED = "merged"
    CLOSED = "closed"


STATUS_VALUES = frozenset(s.value for s in Status)
TYPE_VALUES = frozenset(t.value for t in RequestType)
PRIORITY_VALUES = frozenset(p.value for p in Priority)
MAIN_LINE = (Status.PENDING, Status.PLANNING, Status.IN_PROGRESS, Status.IN_REVIEW, Status.COMPLETED)
TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
OPEN = frozenset(Status) - TERMINAL

# Moves an agent (or a person) may make: the next step, back from review, or an ending.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.PLANNING, Status.FAILED, Status.CANCELLED}),
    Status.PLANNING: frozenset({Status.IN_PROGRESS, Status.FAILED, Status.CANCELLED}),
    Status.IN_PROGRESS: frozenset({Status.IN_REVIEW, Status.FAILED, Status.CANCELLED}),
    Status.IN_REVIEW: frozenset({Status.COMPLETED, Status.IN_PROGRESS, Status.FAILED, Status.CANCELLED}),
    Status.COMPLETED: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELLED: frozenset(),
}


class TransitionRefused(ValueError):
    """A status change outside the lifecycle; the message says what is allowed instead."""

    def __init__(self, number: int | None, current: Status, target: Status) -> None:
        self.current, self.target = current, target
        allowed = sorted(TRANSITIONS[current])
        what = f"coding request #{number}" if number is not None else "a coding request"
        hint = f"allowed from {current.value}: {', '.join(allowed)}" if allowed else f"{current.value} is final"
        super().__init__(f"cannot move {what} from {current.value} to {target.value} ({hint})")


def parse_status(value: object) -> Status:
    """A Status from input, or ValueError naming the accepted values."""
    try:
        return Status(str(value))
    except ValueError:
        raise ValueError(f"unknown status {value!r}: use one of {', '.join(s.value for s in Status)}") from None


def may_move(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]


def check_move(current: Status, target: Status, number: int | None = None) -> None:
    if not may_move(current, target):
        raise TransitionRefused(number, current, target)


def sources_for(target: Status) -> list[str]:
    """The statuses a request may be in for an agent's move to ``target`` (the SQL guard)."""
    return sorted(s.value for s, allowed in TRANSITIONS.items() if target in allowed)


def fact_sources_for(target: Status) -> list[str]:
    """The statuses from which a reported fact moves a request to ``target``: any earlier open status on
    the main line (a pull request opened while the agent still said ``planning`` is in review)."""
    if target not in MAIN_LINE:
        return sources_for(target)
    earlier = MAIN_LINE[: MAIN_LINE.index(target)]
    return sorted({s.value for s in earlier} | set(sources_for(target)))


# --- references from GitHub and Linear ------------------------------------------------------------

CR_REFERENCE = re.compile(r"(?<![A-Za-z0-9])cr-(\d{1,9})(?![0-9])", re.IGNORECASE)


def referenced_numbers(*texts: str | None) -> list[int]:
    """Request numbers referenced as ``cr-<number>`` in branch names or titles, first seen first."""
    found: list[int] = []
    for text in texts:
        for match in CR_REFERENCE.finditer(text or ""):
            number = int(match.group(1))
            if number not in found:
                found.append(number)
    return found


LINEAR_PRIORITY = {1: Priority.URGENT, 2: Priority.HIGH, 3: Priority.MEDIUM, 4: Priority.LOW}


def priority_from_linear(value: object) -> Priority:
    """Linear's 0 (none), 1 urgent, 2 high, 3 medium, 4 low; none or unknown -> medium (the default)."""
    return LINEAR_PRIORITY.get(value, Priority.MEDIUM) if isinstance(value, int) else Priority.MEDIUM


def request_type_from_labels(labels: Iterable[str]) -> RequestType:
    """``bug`` wins over ``feature``; neither -> feature (the column's default)."""
    names = {label.strip().lower() for label in labels}
    return RequestType.BUG if "bug" in names else RequestType.FEATURE


def matching_labels(labels: Iterable[str], wanted: Iterable[str]) -> list[str]:
    """Labels of an issue that are configured as coding-request triggers (case-insensitive)."""
    want = {w.strip().lower() for w in wanted}
    return [label for label in labels if label.strip().lower() in want]


# --- the row, as the rest of the code sees it ------------------------------------------------------


@dataclass(frozen=True)
class CodingRequest:
    id: uuid.UUID
    request_number: int
    source: str
    source_id: str
    source_url: str | None
    title: str
    description: str | None
    request_type: str
    priority: str
    estimated_complexity: str | None
    status: str
    implementation_plan: dict[str, Any] | None
    files_to_create: list[str] | None
    files_to_modify: list[str] | None
    test_files: list[str] | None
    branch_name: str | None
    pr_number: int | None
    pr_url: str | None
    pr_status: str | None
    assigned_agent: str | None
    requested_by_id: str | None
    requested_by_name: str | None
    requested_by_email: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
            elif isinstance(value, uuid.UUID):
                out[key] = str(value)
            else:
                out[key] = value
        return out


@dataclass(frozen=True)
class NewRequest:
    """What a filing (Slack modal, Linear issue) gives; the database fills the rest."""

    source: str
    source_id: str
    title: str
    description: str | None = None
    source_url: str | None = None
    request_type: RequestType = RequestType.FEATURE
    priority: Priority = Priority.MEDIUM
    requested_by_id: str | None = None
    requested_by_name: str | None = None
    requested_by_email: str | None = None


@dataclass(frozen=True)
class PullRequestFact:
    """What a GitHub ``pull_request`` delivery reports about a pull request."""

    action: str  # "opened" | "draft" (opened as a draft) | "merged" | "closed"
    repo: str  # owner/name
    number: int
    url: str
    branch: str
    title: str
    references: tuple[int, ...] = ()
    head_repo: str | None = None  # where the branch lives; another repository (or unknown): a fork

    @property
    def from_fork(self) -> bool:
        return self.head_repo is None or self.head_repo.casefold() != self.repo.casefold()


def linkable(fact: PullRequestFact, repositories: Iterable[str]) -> tuple[str | None, list[int]]:
    """What may link this pull request to coding requests: (the branch name to match exactly, or None;
    the ``cr-<n>`` numbers), under the ``coding_requests.repositories`` allow-list.

    A listed repository links by branch name, and by ``cr-<n>`` in the branch or title unless the pull
    request comes from a fork (whoever forks chooses those). An unlisted one links nothing. With an empty
    list, any repository links, but only by the exact branch name an agent recorded on the request."""
    listed = {r.casefold() for r in repositories}
    if listed and fact.repo.casefold() not in listed:
        return None, []
    references = list(fact.references) if listed and not fact.from_fork else []
    return fact.branch or None, references


# --- what the agents' API may change (PATCH) -------------------------------------------------------


class FieldError(ValueError):
    """Bad input for one field; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Changes:
    status: Status | None = None
    estimated_complexity: str | None = None
    implementation_plan: dict[str, Any] | None = None
    files_to_create: list[str] | None = None
    files_to_modify: list[str] | None = None
    test_files: list[str] | None = None
    branch_name: str | None = None


FILE_LIST_FIELDS = ("files_to_create", "files_to_modify", "test_files")
TEXT_FIELDS = {"estimated_complexity": 50, "branch_name": 255}


def parse_changes(body: object) -> Changes:
    """Validate a PATCH body; FieldError names the first bad field."""
    if not isinstance(body, dict):
        raise FieldError("body", "must be a JSON object")
    known = {"status", "implementation_plan", *FILE_LIST_FIELDS, *TEXT_FIELDS}
    for key in body:
        if key not in known:
            raise FieldError(str(key), f"cannot be changed here; use: {', '.join(sorted(known))}")
    if not body:
        raise FieldError("body", f"nothing to change; send one of: {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    if "status" in body:
        try:
            values["status"] = parse_status(body["status"])
        except ValueError as exc:
            raise FieldError("status", str(exc)) from None
    for name, limit in TEXT_FIELDS.items():
        if name in body:
            value = body[name]
            if not isinstance(value, str) or not value.strip() or len(value) > limit:
                raise FieldError(name, f"must be a non-empty string of at most {limit} characters")
            values[name] = value.strip()
    if "implementation_plan" in body:
        if not isinstance(body["implementation_plan"], dict):
            raise FieldError("implementation_plan", "must be a JSON object")
        values["implementation_plan"] = body["implementation_plan"]
    for name in FILE_LIST_FIELDS:
        if name in body:
            value = body[name]
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise FieldError(name, "must be a list of file paths (non-empty strings)")
            values[name] = [v.strip() for v in value]
    return Changes(**values)


# --- files a merged pull request changed ------------------------------------------------------------

TEST_PATH = re.compile(r"(^|/)(tests?|__tests__|spec)/|(^|/)test_[^/]*$|_test\.[^/]+$|\.(test|spec)\.[^/]+$")


def classify_files(files: Iterable[tuple[str, str]]) -> tuple[list[str], list[str], list[str]]:
    """(files_to_create, files_to_modify, test_files) from GitHub's (filename, status) pairs.
    Test files go to test_files only; ``added`` files are created, every other change modifies."""
    create: list[str] = []
    modify: list[str] = []
    tests: list[str] = []
    for name, status in files:
        if TEST_PATH.search(name):
            tests.append(name)
        elif status == "added":
            create.append(name)
        else:
            modify.append(name)
    return create, modify, tests


# --- where to tell the requester, and what ------------------------------------------------------------


@dataclass(frozen=True)
class SlackOrigin:
    """Where a Slack filing came from. ``source_id`` is unique per origin: the slash command's
    trigger id (stable across resubmissions of its modal), or the shortcut's message."""

    kind: str  # "command" | "message"
    key: str  # trigger id, or "<channel>:<message ts>"
    channel: str | None = None
    thread_ts: str | None = None

    @property
    def source_id(self) -> str:
        if self.kind == "message":
            return f"message:{self.key}:{self.thread_ts or ''}"
        return f"command:{self.key}"

    @classmethod
    def from_source_id(cls, source_id: str) -> SlackOrigin:
        kind, _, rest = source_id.partition(":")
        if kind == "message":
            channel, _, tail = rest.partition(":")
            ts, _, thread_ts = tail.partition(":")
            return cls("message", f"{channel}:{ts}", channel=channel, thread_ts=thread_ts or ts)
        return cls("command", rest)

    @classmethod
    def for_message(cls, channel: str, ts: str, thread_ts: str | None) -> SlackOrigin:
        return cls("message", f"{channel}:{ts}", channel=channel, thread_ts=thread_ts or ts)


STATUS_WORDS = {
    Status.PENDING: "is waiting for the coding agent",
    Status.PLANNING: "is being planned",
    Status.IN_PROGRESS: "is in progress",
    Status.IN_REVIEW: "is in review",
    Status.COMPLETED: "is completed",
    Status.FAILED: "has failed",
    Status.CANCELLED: "was cancelled",
}


def confirmation_text(number: int, title: str) -> str:
    return f"Coding request #{number} filed: {title}. I'll keep you posted here."


def status_change_text(number: int, title: str, status: str, pr_url: str | None = None) -> str:
    words = STATUS_WORDS[Status(status)] if status in STATUS_VALUES else status
    text = f"Coding request #{number} ({title}) {words}."
    return f"{text} Pull request: {pr_url}" if pr_url else text
