"""What the delivery-gap sweeper decides (pure): which hooks to read, which GitHub deliveries to ask for
again, and which Sentry transition was missed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from integrations.sentry.payloads import SentryEvent, SentryIssue


@dataclass(frozen=True)
class Hook:
    kind: str  # repository | organization | app
    target: str | None  # owner/name, or the organisation
    hook_id: int | None

    @property
    def key(self) -> str:
        return ":".join(str(p) for p in (self.kind, self.target, self.hook_id) if p is not None)


def hooks(setting: Any) -> list[Hook]:
    """The hooks of ``sweeper.github_hooks`` (entries that do not fit are left out; the schema refuses them)."""
    found: list[Hook] = []
    for entry in setting if isinstance(setting, list) else []:
        if not isinstance(entry, dict):
            continue
        kind, hook_id = entry.get("type"), entry.get("hook_id")
        target = entry.get("repository") if kind == "repository" else entry.get("organization")
        if kind == "app":
            found.append(Hook("app", None, None))
        elif kind in ("repository", "organization") and isinstance(target, str) and isinstance(hook_id, int):
            found.append(Hook(kind, target, hook_id))
    return list(dict.fromkeys(found))


class DeliveryLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def guid(self) -> str: ...
    @property
    def delivered_at(self) -> datetime | None: ...


D = TypeVar("D", bound=DeliveryLike)
T = TypeVar("T")


def settled(deliveries: Iterable[D], before: datetime) -> list[D]:
    """Deliveries old enough that their first copy must have been stored by now if it ever will."""
    return [d for d in deliveries if d.delivered_at is None or d.delivered_at <= before]


def to_redeliver(deliveries: Sequence[D], stored: set[str]) -> list[D]:
    """One attempt (the newest) per guid we never stored. A guid GitHub marks failed that we did store is
    ours already (the inbox retries it): asking again would only be answered ``duplicate``."""
    newest: dict[str, D] = {}
    for d in deliveries:
        if d.guid in stored:
            continue
        if d.guid not in newest or d.id > newest[d.guid].id:
            newest[d.guid] = d
    return sorted(newest.values(), key=lambda d: d.id)


class Missed(StrEnum):
    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"
    REGRESSED = "regressed"
    IGNORED = "ignored"


OPEN_INCIDENT = frozenset({"detected", "acknowledged", "mitigating"})


def ours(mapping_status: str | None, incident_status: str | None) -> str | None:
    """Our view of a Sentry issue: the mapping's status, else (no mapping, or its Linear issue deleted)
    the latest incident's: open, resolved or ignored."""
    if mapping_status in ("open", "resolved", "ignored"):
        return mapping_status
    if incident_status in OPEN_INCIDENT:
        return "open"
    return incident_status if incident_status in ("resolved", "ignored") else None


def sentry_missed(
    status: str | None,
    substatus: str | None,
    last_seen: datetime | None,
    our_status: str | None,
    our_last_seen: datetime | None,
    *,
    resolved_in_sentry: bool,
) -> Missed | None:
    """The transition Sentry made that we did not see. Resolved or ignored while ours is open. Unresolved
    while ours is resolved: a regression when Sentry saw an event after our last (or says regressed after
    resolving it itself), an unresolve when Sentry had resolved it; an issue resolved elsewhere (its Linear
    issue completed) that Sentry never resolved is not a change Sentry made."""
    if status == "resolved" and our_status == "open":
        return Missed.RESOLVED
    if status == "ignored" and our_status == "open":
        return Missed.IGNORED
    if status == "unresolved" and our_status == "resolved":
        if last_seen is not None and our_last_seen is not None and last_seen > our_last_seen:
            return Missed.REGRESSED
        if resolved_in_sentry:
            return Missed.REGRESSED if substatus == "regressed" else Missed.UNRESOLVED
    return None


def event_of(issue: SentryIssue) -> SentryEvent:
    """The event a regression's webhook would have carried: the issue's latest, seen at ``lastSeen``."""
    return SentryEvent(
        issue_id=issue.issue_id,
        event_id=None,
        title=issue.title,
        level=issue.level,
        seen_at=issue.last_seen,
        url=issue.url,
        issue=issue,
    )


def batches(items: Sequence[T], size: int) -> list[Sequence[T]]:
    size = max(size, 1)
    return [items[i : i + size] for i in range(0, len(items), size)]
