"""Approval requests as pure rules: validating a new request, the states, and what a late click is told.

No I/O here: the SQL lives in ``domain.approvals.store``; the database settles races. Time is injected.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.approvals.policy import RiskLevel

DEFAULT_EXPIRES_IN_S = 24 * 3600  # the seed's column default: now() + 24 h
MAX_EXPIRES_IN_S = 30 * 24 * 3600
MIN_EXPIRES_IN_S = 10
MAX_DETAILS_BYTES = 64 * 1024
MAX_CONTINUATION_BYTES = 64 * 1024
MAX_REASON_CHARS = 3000
DEFAULT_CONTINUATION_EVENT = "approval.decided"

SLACK_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,49}$")
SLACK_TS = re.compile(r"^\d{1,20}\.\d{1,10}$")
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,49}$")
MAX_EDITABLE_FIELDS = 10
MAX_REJECT_OPTIONS = 10
MAX_OPTION_CHARS = 75  # Slack's limit on an option's text
EDITABLE_TYPES = frozenset({"string", "integer", "number", "boolean"})


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Decision(StrEnum):
    """How a pending request ends; each is also the status it ends in."""

    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class InvalidField(ValueError):
    """A request field that is missing, of the wrong type or out of range (an HTTP 400 naming it)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class NewApproval:
    agent_name: str
    action_type: str
    action_details: dict[str, Any]
    risk_level: RiskLevel
    continuation_event_type: str | None = None
    continuation_payload: dict[str, Any] = field(default_factory=dict)
    channel: str | None = None
    thread_ts: str | None = None
    expires_in_s: int = DEFAULT_EXPIRES_IN_S
    requested_by: str | None = None
    editable: dict[str, Any] | None = None
    reject_options: tuple[str, ...] = ()

    @property
    def has_extras(self) -> bool:
        return bool(self.requested_by or self.editable or self.reject_options)


@dataclass(frozen=True)
class Approval:
    """An ``approval_requests`` row."""

    id: uuid.UUID
    agent_name: str
    action_type: str
    action_details: dict[str, Any]
    risk_level: str
    status: str
    slack_channel_id: str | None
    slack_message_ts: str | None
    slack_thread_ts: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    rejection_reason: str | None
    continuation_event_type: str | None
    continuation_payload: dict[str, Any] | None
    expires_at: datetime
    created_at: datetime
    updated_at: datetime

    @property
    def risk(self) -> RiskLevel:
        """The risk level; a value the API would refuse (a row written by other means) counts as critical."""
        known = {r.value: r for r in RiskLevel}
        return known.get(self.risk_level, RiskLevel.CRITICAL)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            if isinstance(value, uuid.UUID):
                value = str(value)
            elif isinstance(value, datetime):
                value = value.isoformat()
            out[name] = value
        return out


def _text(body: Mapping[str, Any], name: str, *, max_len: int, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidField(name, "is required")
        return None
    if not isinstance(value, str):
        raise InvalidField(name, "must be a string")
    if not value.strip():
        raise InvalidField(name, "must not be empty")
    if len(value) > max_len:
        raise InvalidField(name, f"must be at most {max_len} characters")
    return value


def _object(body: Mapping[str, Any], name: str, *, max_bytes: int, required: bool) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidField(name, "is required")
        return None
    if not isinstance(value, dict):
        raise InvalidField(name, "must be a JSON object")
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > max_bytes:
        raise InvalidField(name, f"is {size} bytes of JSON, at most {max_bytes} are accepted")
    return value


def parse_new(body: Any) -> NewApproval:
    """Validate a POST /api/v1/approvals body; raises InvalidField for the first bad field."""
    if not isinstance(body, dict):
        raise InvalidField("body", "must be a JSON object")
    agent_name = _text(body, "agent_name", max_len=100, required=True)
    action_type = _text(body, "action_type", max_len=100, required=True)
    details = _object(body, "action_details", max_bytes=MAX_DETAILS_BYTES, required=True)
    risk = body.get("risk_level")
    if risk is None:
        raise InvalidField("risk_level", "is required (one of low, medium, high, critical)")
    if risk not in {r.value for r in RiskLevel}:
        raise InvalidField("risk_level", f"must be one of low, medium, high, critical, got {risk!r}")
    event_type = _text(body, "continuation_event_type", max_len=100, required=False)
    payload = _object(body, "continuation_payload", max_bytes=MAX_CONTINUATION_BYTES, required=False)
    channel = _text(body, "channel", max_len=50, required=False)
    if channel is not None and not SLACK_CHANNEL.match(channel):
        raise InvalidField("channel", "must be a Slack channel id such as C0123ABCD")
    thread_ts = _text(body, "thread_ts", max_len=50, required=False)
    if thread_ts is not None and not SLACK_TS.match(thread_ts):
        raise InvalidField("thread_ts", "must be a Slack message timestamp such as 1712345678.000100")
    if thread_ts is not None and channel is None:
        raise InvalidField("channel", "is required with thread_ts (the channel the thread is in)")
    expires_in_s = body.get("expires_in_s", DEFAULT_EXPIRES_IN_S)
    if isinstance(expires_in_s, bool) or not isinstance(expires_in_s, int):
        raise InvalidField("expires_in_s", "must be an integer number of seconds")
    if not MIN_EXPIRES_IN_S <= expires_in_s <= MAX_EXPIRES_IN_S:
        raise InvalidField("expires_in_s", f"must be between {MIN_EXPIRES_IN_S} and {MAX_EXPIRES_IN_S}")
    assert agent_name is not None and action_type is not None and details is not None
    requested_by = _text(body, "requested_by", max_len=50, required=False)
    if requested_by is not None and not SLACK_USER.match(requested_by):
        raise InvalidField("requested_by", "must be a Slack user id such as U012AB3CD")
    editable = parse_editable(body.get("editable"), details)
    return NewApproval(
        agent_name=agent_name,
        action_type=action_type,
        action_details=details,
        risk_level=RiskLevel(risk),
        continuation_event_type=event_type,
        continuation_payload=payload or {},
        channel=channel,
        thread_ts=thread_ts,
        expires_in_s=expires_in_s,
        requested_by=requested_by,
        editable=editable,
        reject_options=parse_reject_options(body.get("reject_options")),
    )


def parse_editable(raw: Any, details: Mapping[str, Any]) -> dict[str, Any] | None:
    """``editable``: a JSON Schema of an object whose properties are top-level keys of ``action_details``
    with a scalar type (or an enum), so a Slack modal can show one input per property."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") != "object":
        raise InvalidField("editable", 'must be a JSON Schema object with "type": "object"')
    props = raw.get("properties")
    if not isinstance(props, dict) or not props:
        raise InvalidField("editable", "must list the editable keys of action_details in properties")
    if len(props) > MAX_EDITABLE_FIELDS:
        raise InvalidField("editable", f"may list at most {MAX_EDITABLE_FIELDS} properties")
    for key, spec in props.items():
        if key not in details:
            raise InvalidField("editable", f"property {key!r} is not a key of action_details")
        if not isinstance(spec, dict):
            raise InvalidField("editable", f"property {key!r} must be a schema object")
        enum = spec.get("enum")
        if enum is not None and not (isinstance(enum, list) and enum and all(isinstance(v, str) and v for v in enum)):
            raise InvalidField("editable", f"property {key!r}: enum must be a list of non-empty strings")
        if enum is None and spec.get("type") not in EDITABLE_TYPES:
            raise InvalidField("editable", f"property {key!r}: type must be one of {sorted(EDITABLE_TYPES)}")
    if len(json.dumps(raw).encode()) > MAX_DETAILS_BYTES:
        raise InvalidField("editable", f"must be at most {MAX_DETAILS_BYTES} bytes of JSON")
    return raw


def parse_reject_options(raw: Any) -> tuple[str, ...]:
    """``reject_options``: short distinct texts offered in the reject modal beside free text."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_REJECT_OPTIONS:
        raise InvalidField("reject_options", f"must be a list of at most {MAX_REJECT_OPTIONS} strings")
    options: list[str] = []
    for item in raw:
        if not isinstance(item, str) or not item.strip() or len(item) > MAX_OPTION_CHARS:
            raise InvalidField("reject_options", f"each must be a non-empty string of at most {MAX_OPTION_CHARS}")
        if item in options:
            raise InvalidField("reject_options", f"{item!r} is listed twice")
        options.append(item)
    return tuple(options)


def parse_wait(raw: str | None, *, limit: int = 60) -> float:
    """The ``?wait=N`` of GET /api/v1/approvals/{id}: 0..limit seconds (InvalidField otherwise)."""
    if raw is None or raw == "":
        return 0.0
    try:
        value = float(raw)
    except ValueError as exc:
        raise InvalidField("wait", f"must be a number of seconds between 0 and {limit}") from exc
    if not 0 <= value <= limit:
        raise InvalidField("wait", f"must be between 0 and {limit} seconds")
    return value


def parse_reason(raw: Any) -> str | None:
    """An optional free-text reason (reject modal, cancel body), trimmed; InvalidField when malformed."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidField("reason", "must be a string")
    text = raw.strip()
    if len(text) > MAX_REASON_CHARS:
        raise InvalidField("reason", f"must be at most {MAX_REASON_CHARS} characters")
    return text or None


def continuation(
    base: Mapping[str, Any] | None,
    *,
    approval_id: str,
    decision: Decision,
    decided_at: datetime,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The continuation event's payload: the request's own payload plus the decision.

    Every ``authenticated`` token reads the bus, while the seed keeps ``approval_requests`` to
    ``service_role``: who decided and why stay on the row (``GET /api/v1/approvals/{id}``)."""
    return {
        **(base or {}),
        "approval_id": approval_id,
        "decision": decision.value,
        "decided_at": decided_at.isoformat(),
        **(extra or {}),
    }


def continuation_event_type(configured: str | None) -> str:
    return configured or DEFAULT_CONTINUATION_EVENT


def is_open(status: str, expires_at: datetime, now: datetime) -> bool:
    """May this request still be decided? (The SQL update applies the same rule atomically.)"""
    return status == Status.PENDING and expires_at > now


def slack_date(when: datetime, fmt: str = "{date_short_pretty} at {time}") -> str:
    """Slack's date formatting: shown in each reader's time zone, with a UTC fallback text."""
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{fmt}|{fallback}>"


def why_closed(
    status: str,
    *,
    resolved_by: str | None,
    resolved_at: datetime | None,
    expires_at: datetime,
    now: datetime,
) -> str:
    """What a click on a request that can no longer be decided is told (ephemeral, Slack mrkdwn)."""
    who = f" by <@{resolved_by}>" if resolved_by and not resolved_by.startswith("api:") else ""
    when = f" at {slack_date(resolved_at)}" if resolved_at else ""
    if status == Status.APPROVED:
        return f"This request was already approved{who}{when}."
    if status == Status.REJECTED:
        return f"This request was already rejected{who}{when}."
    if status == Status.CANCELLED:
        return f"This request was withdrawn by the agent{when}; there is nothing left to decide."
    if status == Status.EXPIRED or (status == Status.PENDING and expires_at <= now):
        return f"This request expired {slack_date(expires_at)}; it can no longer be decided."
    return "This request can be decided."


def channel_for(
    requested: str | None,
    per_risk: Mapping[str, str] | None,
    risk: RiskLevel,
    default: str | None,
) -> str | None:
    """Where the message goes: the request's channel, else the risk level's, else the default."""
    if requested:
        return requested
    configured = (per_risk or {}).get(risk.value)
    if isinstance(configured, str) and configured:
        return configured
    return default
