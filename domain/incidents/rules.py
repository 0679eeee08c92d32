"""Incident lifecycle rules (pure): detected -> acknowledged -> mitigating -> resolved; resolved from any
open state; ignored for issues silenced at the source."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    DETECTED = "detected"
    ACKNOWLEDGED = "acknowledged"
    MITIGATING = "mitigating"
    RESOLVED = "resolved"
    IGNORED = "ignored"


class Transition(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    MITIGATE = "mitigate"
    RESOLVE = "resolve"
    IGNORE = "ignore"


TARGET: dict[Transition, Status] = {
    Transition.ACKNOWLEDGE: Status.ACKNOWLEDGED,
    Transition.MITIGATE: Status.MITIGATING,
    Transition.RESOLVE: Status.RESOLVED,
    Transition.IGNORE: Status.IGNORED,
}

ALLOWED_FROM: dict[Transition, frozenset[Status]] = {
    Transition.ACKNOWLEDGE: frozenset({Status.DETECTED}),
    Transition.MITIGATE: frozenset({Status.DETECTED, Status.ACKNOWLEDGED}),
    Transition.RESOLVE: frozenset({Status.DETECTED, Status.ACKNOWLEDGED, Status.MITIGATING, Status.IGNORED}),
    Transition.IGNORE: frozenset({Status.DETECTED, Status.ACKNOWLEDGED, Status.MITIGATING}),
}

OPEN = frozenset({Status.DETECTED, Status.ACKNOWLEDGED, Status.MITIGATING})


def next_status(current: str, transition: Transition) -> Status | None:
    """The status after ``transition`` from ``current``, or None when the transition is not allowed."""
    try:
        status = Status(current)
    except ValueError:
        return None
    return TARGET[transition] if status in ALLOWED_FROM[transition] else None


def allowed_from(transition: Transition) -> list[str]:
    """The statuses ``transition`` may leave, for a single guarded UPDATE."""
    return sorted(s.value for s in ALLOWED_FROM[transition])


def is_open(status: str) -> bool:
    return status in OPEN


def refusal(current: str, transition: Transition) -> str:
    """Why ``transition`` is refused, for the 409 answer."""
    allowed = ", ".join(allowed_from(transition))
    return f"cannot {transition.value} an incident that is {current}: allowed only from {allowed}"


SEVERITIES = ("low", "medium", "high", "critical")


def next_severity(severity: str) -> str | None:
    """One step up the severity ladder; None at the top (or for a severity not on it)."""
    if severity not in SEVERITIES or severity == SEVERITIES[-1]:
        return None
    return SEVERITIES[SEVERITIES.index(severity) + 1]
