"""Runbook rules, pure: steps and conditions (their JSON Schemas), the four modes, the evidence a pattern
needs to run by itself (Wilson lower bound), agreement between proposed and actual steps, and the words
the incident thread is told."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.runbooks.embedder import tokens

STEP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["action"],
    "properties": {
        "action": {"type": "string", "minLength": 1, "maxLength": 200},
        "target": {"type": "string", "maxLength": 500},
        "params": {"type": "object"},
        "description": {"type": "string", "maxLength": 2000},
    },
    "additionalProperties": False,
}
STEPS_SCHEMA: dict[str, Any] = {"type": "array", "items": STEP_SCHEMA, "maxItems": 100}
CONDITIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "source": {"type": "string"},
        "incident_type": {"type": "string"},
        "error_type": {"type": "string"},
        "services": {"type": "array", "items": {"type": "string"}},
        "severity": {"type": "string", "enum": ["critical", "high", "medium", "low"]},
        "title_keywords": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}
MAX_KEYWORDS = 8
Z95 = 1.959963984540054


class Mode(StrEnum):
    AUTO = "auto"
    APPROVAL = "approval"
    SHADOW = "shadow"
    SUGGEST = "suggest"


@dataclass(frozen=True)
class Evidence:
    """What decides a version's mode: its counters and gate."""

    steps: int
    requires_approval: bool
    success_count: int
    failure_count: int
    auto_execute_threshold: int


def wilson_lower_bound(successes: int, trials: int, z: float = Z95) -> float:
    """The lower bound of the Wilson score interval of the success rate (0 without trials)."""
    if trials <= 0:
        return 0.0
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return (centre - spread) / (1 + z * z / trials)


def earned(e: Evidence, lower_bound: float) -> bool:
    """Enough successes, and a success rate whose lower bound clears ``lower_bound``."""
    trials = e.success_count + e.failure_count
    return e.success_count >= e.auto_execute_threshold and wilson_lower_bound(e.success_count, trials) >= lower_bound


def mode(e: Evidence, lower_bound: float) -> Mode:
    """auto: not gated and earned; approval: gated and earned; suggest: nothing to run, or the evidence is
    against it; shadow: not earned yet (the proposal is compared with what people do)."""
    if e.steps == 0 or e.failure_count > e.success_count:
        return Mode.SUGGEST
    if earned(e, lower_bound):
        return Mode.APPROVAL if e.requires_approval else Mode.AUTO
    return Mode.SHADOW


def title_keywords(title: str) -> list[str]:
    """The distinctive words of a title (placeholders and very short words left out), sorted, unique."""
    words = {t for t in tokens(title) if not t.startswith("<") and len(t) > 2}
    return sorted(words)[:MAX_KEYWORDS]


def facts(incident: Mapping[str, Any]) -> dict[str, Any]:
    """The incident as the JSON a pattern's ``trigger_conditions`` is tested against (``facts @> conditions``
    minus severity): every key a condition may name."""
    details = incident.get("error_details") or {}
    out: dict[str, Any] = {
        "source": incident.get("source") or "",
        "incident_type": incident.get("incident_type") or "",
        "services": sorted(incident.get("affected_services") or []),
        "title_keywords": title_keywords(str(incident.get("title") or "")),
    }
    if isinstance(details, Mapping) and isinstance(details.get("error_type"), str):
        out["error_type"] = details["error_type"]
    return out


def conditions(incident: Mapping[str, Any]) -> dict[str, Any]:
    """The trigger_conditions a pattern learned from ``incident`` starts with."""
    return {**facts(incident), "severity": incident.get("severity") or "medium"}


def step_key(step: Mapping[str, Any]) -> tuple[str, str]:
    return (str(step.get("action", "")).strip().lower(), str(step.get("target", "") or "").strip().lower())


def same_steps(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> bool:
    """The same actions on the same targets, in the same order (params and descriptions may differ)."""
    return [step_key(s) for s in a] == [step_key(s) for s in b]


def agreement(proposed: Sequence[Mapping[str, Any]], actual: Sequence[Mapping[str, Any]]) -> float:
    """How far the steps people took agree with the proposal: the Jaccard index of the (action, target)
    multisets, 1.0 when both are empty."""
    p, a = Counter(step_key(s) for s in proposed), Counter(step_key(s) for s in actual)
    union = sum((p | a).values())
    return 1.0 if union == 0 else sum((p & a).values()) / union


def promotion_due(
    compared: int, agreement_sum: float, regressions: int, *, min_incidents: int, min_agreement: float
) -> bool:
    return compared >= min_incidents and regressions == 0 and agreement_sum / compared >= min_agreement


_NAME_CLEAN = re.compile(r"[^a-z0-9_<>.: -]+")


def pattern_name(incident: Mapping[str, Any]) -> str:
    """A readable name: ``<service or type>: <error type> <title keywords>``."""
    services = sorted(incident.get("affected_services") or [])
    details = incident.get("error_details") or {}
    error_type = details.get("error_type") if isinstance(details, Mapping) else None
    head = services[0] if services else str(incident.get("incident_type") or "incident")
    words = [str(error_type).lower()] if error_type else []
    words += [w for w in title_keywords(str(incident.get("title") or "")) if w not in words][:5]
    return _NAME_CLEAN.sub("", f"{head}: {' '.join(words) or 'incident'}".lower())[:180]


def risk_level(severity: str) -> str:
    return severity if severity in ("critical", "high", "medium", "low") else "medium"


def looks_like(name: str, version: int, successes: int, trials: int, median_ms: float | None, m: Mode) -> str:
    """The incident-thread line: "looks like <pattern> (v3): resolved 7 of 8 times, median 4 min"."""
    said = f"looks like {name} (v{version}): resolved {successes} of {trials} times"
    if median_ms is not None:
        said += f", median {max(1, round(median_ms / 60000))} min"
    return f"{said} [{m.value}]"


def demoted(name: str, version: int, why: str) -> str:
    return f"runbook {name} (v{version}) needs approval again: {why}"
