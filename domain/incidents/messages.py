"""Slack texts and Block Kit for incidents (pure): the announcement (kept true by editing it in place, with
its Acknowledge / Mitigating / Resolve / Escalate buttons and the Assign-to-agent select), thread replies
(a burst of them coalesced into one), and the modals for resolving and for declaring an incident.

Every button's ``value`` names the incident; Escalate's also names the severity shown, so a repeated or
late click on an old rendering raises nothing (the store compares and sets on it)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.incidents.rules import SEVERITIES, Transition, is_open, next_severity, next_status

SEVERITY_EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:"}
STATUS_TEXT = {
    "acknowledged": "acknowledged",
    "mitigating": "being mitigated",
    "resolved": "resolved",
    "ignored": "ignored at the source",
    "detected": "detected again",
}
STATUS_BADGE = {
    "detected": ":rotating_light: detected",
    "acknowledged": ":eyes: acknowledged",
    "mitigating": ":hammer_and_wrench: mitigating",
    "resolved": ":white_check_mark: resolved",
    "ignored": ":zzz: ignored",
}
COMMAND = "/incident"
MAX_OPTIONS = 100  # Slack's limit for a static_select
MAX_OPTION_VALUE = 150
MAX_MESSAGE_TEXT = 39_000  # Slack truncates chat.postMessage text after 40,000 characters
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
USER_GROUP = re.compile(r"^S[A-Z0-9]{2,}$")


class ActionId(StrEnum):
    ACKNOWLEDGE = "incident_acknowledge"
    MITIGATE = "incident_mitigate"
    RESOLVE = "incident_resolve"
    ESCALATE = "incident_escalate"
    ASSIGN = "incident_assign"


class CallbackId(StrEnum):
    RESOLVE = "incident_resolve_modal"
    DECLARE = "incident_declare_modal"


class Field(StrEnum):
    """Input block ids of the modals (each input's action id is ``value``)."""

    STEPS = "steps"
    SUMMARY = "summary"
    TITLE = "title"
    SEVERITY = "severity"
    SERVICE = "service"
    DESCRIPTION = "description"


VALUE = "value"
BUTTON_MOVES = {
    ActionId.ACKNOWLEDGE: Transition.ACKNOWLEDGE,
    ActionId.MITIGATE: Transition.MITIGATE,
    ActionId.RESOLVE: Transition.RESOLVE,
}


def _clip(value: str | None, limit: int) -> str:
    value = (value or "").strip()
    return value if len(value) <= limit else value[: limit - 1] + "…"


def escape(text: str) -> str:
    """Slack mrkdwn control characters, so outside text renders as text (and mentions nobody)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": _clip(text, limit), "emoji": True}


def _md(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _clip(text, 3000)}


def who(person: str | None) -> str:
    """A Slack id as a mention; anything else (an agent, ``sentry``) as escaped text."""
    if not person:
        return "nobody"
    return f"<@{person}>" if SLACK_USER.match(person) else escape(person)


def duration(ms: float | None) -> str:
    """``45s``, ``12m``, ``3h 05m``, ``2d 4h``."""
    seconds = int((ms or 0) // 1000)
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours = seconds // 60, seconds // 3600
    if hours < 1:
        return f"{minutes}m"
    if hours < 48:
        return f"{hours}h {minutes % 60:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def durations(incident: Mapping[str, Any], now: datetime | None) -> str:
    """What the clock says about the incident: how long open, when mitigated, how long to resolve."""
    parts = []
    created, status = incident.get("created_at"), str(incident.get("status") or "detected")
    if incident.get("time_to_mitigate_ms") is not None:
        parts.append(f"mitigating after {duration(incident['time_to_mitigate_ms'])}")
    if status == "resolved" and incident.get("time_to_resolve_ms") is not None:
        parts.append(f"resolved in {duration(incident['time_to_resolve_ms'])}")
    elif isinstance(created, datetime) and now is not None and is_open(status):
        parts.append(f"open for {duration((now - created).total_seconds() * 1000)}")
    return ", ".join(parts) or "just opened"


def owner(incident: Mapping[str, Any]) -> str:
    details = incident.get("error_details") or {}
    person = details.get("owner") if isinstance(details, dict) else None
    agent = details.get("assigned_agent") if isinstance(details, dict) else None
    shown = who(person if isinstance(person, str) else None)
    if isinstance(agent, str) and agent:
        shown += f" (agent `{escape(agent)}`)"
    return shown


def _button(action: ActionId, label: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action.value, "text": _plain(label), "value": value}
    if style:
        button["style"] = style
    return button


def actions(incident: Mapping[str, Any], agents: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The buttons this incident's status allows (none once resolved), and the agent select."""
    incident_id, status = str(incident.get("id")), str(incident.get("status") or "detected")
    severity = str(incident.get("severity") or "low")
    elements: list[dict[str, Any]] = []
    if next_status(status, Transition.ACKNOWLEDGE):
        elements.append(_button(ActionId.ACKNOWLEDGE, "Acknowledge", incident_id, "primary"))
    if next_status(status, Transition.MITIGATE):
        elements.append(_button(ActionId.MITIGATE, "Mitigating", incident_id))
    if next_status(status, Transition.RESOLVE):
        elements.append(_button(ActionId.RESOLVE, "Resolve", incident_id))
    if is_open(status) and next_severity(severity):
        elements.append(_button(ActionId.ESCALATE, "Escalate", f"{incident_id}:{severity}", "danger"))
    options = [{"text": _plain(a, 75), "value": a} for a in dict.fromkeys(agents) if a and len(a) <= MAX_OPTION_VALUE][
        :MAX_OPTIONS
    ]
    if is_open(status) and options:
        elements.append(
            {
                "type": "static_select",
                "action_id": ActionId.ASSIGN.value,
                "placeholder": _plain("Assign to agent"),
                "options": options,
            }
        )
    return [{"type": "actions", "block_id": f"incident:{incident_id}", "elements": elements}] if elements else []


def announcement(
    incident: Mapping[str, Any], *, now: datetime | None = None, agents: Sequence[str] = ()
) -> tuple[str, list[dict[str, Any]]]:
    """The first message of an incident's thread, kept true by chat.update: fallback text and blocks."""
    number, severity = incident.get("incident_number"), str(incident.get("severity") or "low")
    status = str(incident.get("status") or "detected")
    emoji = SEVERITY_EMOJI.get(severity, ":white_circle:")
    title = _clip(str(incident.get("title") or "incident"), 150)
    text = f"{emoji} Incident #{number} ({severity}): {title} [{status}]"
    services = ", ".join(incident.get("affected_services") or []) or "unknown"
    fields = [
        _md(f"*Severity*\n{emoji} {severity}"),
        _md(f"*Status*\n{STATUS_BADGE.get(status, status)}"),
        _md(f"*Source*\n{escape(str(incident.get('source')))} ({escape(str(incident.get('incident_type')))})"),
        _md(f"*Service*\n{escape(_clip(services, 100))}"),
        _md(f"*Owner*\n{owner(incident)}"),
    ]
    if incident.get("linear_issue_id"):
        fields.append(_md(f"*Linear*\n{escape(str(incident['linear_issue_id']))}"))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(f"Incident #{number}: {title}")},
        {"type": "section", "fields": fields},
    ]
    if incident.get("error_message"):
        blocks.append({"type": "section", "text": _md("```" + escape(_clip(incident["error_message"], 2500)) + "```")})
    context = f":stopwatch: {durations(incident, now)}"
    if status == "resolved":
        context += f" · resolved by {who(incident.get('resolved_by'))}"
    blocks.append({"type": "context", "elements": [_md(context)]})
    if status == "resolved" and incident.get("resolution_summary"):
        summary = escape(_clip(str(incident["resolution_summary"]), 2000))
        blocks.append({"type": "section", "text": _md(f"*Resolution*\n{summary}")})
    blocks.extend(actions(incident, agents))
    return text, blocks


def update(incident: Mapping[str, Any], note: str | None = None) -> str:
    """A thread reply telling what changed on the incident."""
    status = str(incident.get("status") or "")
    line = f"Incident #{incident.get('incident_number')} is now {STATUS_TEXT.get(status, status)}"
    if status == "resolved" and incident.get("resolved_by"):
        line += f" by {who(incident['resolved_by'])}"
    if incident.get("resolution_summary") and status == "resolved":
        line += f": {_clip(incident['resolution_summary'], 500)}"
    if note:
        line += f"\n{_clip(note, 1000)}"
    return line


def note(incident: Mapping[str, Any], text: str) -> str:
    """A thread reply that is not a status change (a mirrored comment, a deleted Linear issue ...)."""
    return f"Incident #{incident.get('incident_number')}: {_clip(text, 2000)}"


def reply(incident: Mapping[str, Any], items: Iterable[Mapping[str, Any]]) -> str:
    """One thread reply for every queued item (a status change or a note), in the order they were queued:
    a burst of updates is one message, not a flood."""
    lines = []
    for item in items:
        row = {**incident, "status": item.get("status") or incident.get("status")}
        if item.get("dedupe_key"):  # a note (status replies are keyed by their status)
            lines.append(note(row, str(item.get("note") or "")))
        else:
            lines.append(update(row, item.get("note")))
    if len(lines) <= 1:
        return lines[0] if lines else note(incident, "updated")
    prefix = f"Incident #{incident.get('incident_number')}: "
    body = "\n".join("• " + line.removeprefix(prefix).replace("\n", "\n   ") for line in lines)
    return _clip(f"Incident #{incident.get('incident_number')}: {len(lines)} updates\n{body}", MAX_MESSAGE_TEXT)


def escalation_note(person: str, before: str, after: str, group: str | None) -> str:
    line = f"{who(person)} escalated severity {before} → {after}"
    return f"{line}. <!subteam^{group}>" if group and USER_GROUP.match(group) else line


def escalation_group(setting: Any, severity: str) -> str | None:
    """The user group the setting ``incidents.escalation`` names for ``severity``."""
    group = setting.get(severity) if isinstance(setting, dict) else None
    return group if isinstance(group, str) and USER_GROUP.match(group) else None


# --- modals ----------------------------------------------------------------------------------------


def _input(field: Field, label: str, element: dict[str, Any], *, optional: bool = False) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": field.value,
        "label": _plain(label),
        "optional": optional,
        "element": {**element, "action_id": VALUE},
    }


def resolve_modal(incident: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """Asks for the steps taken (one per line) and a summary; ``private_metadata`` is the incident id and
    where the click came from (a channel, for explanations)."""
    number, title = incident.get("incident_number"), str(incident.get("title") or "")
    return {
        "type": "modal",
        "callback_id": CallbackId.RESOLVE.value,
        "private_metadata": f"{incident.get('id')}|{origin}",
        "title": _plain(_clip(f"Resolve #{number}", 24), 24),
        "submit": _plain("Resolve", 24),
        "close": _plain("Cancel", 24),
        "blocks": [
            {"type": "section", "text": _md(f"*Incident #{number}*: {escape(_clip(title, 200))}")},
            _input(
                Field.STEPS,
                "Steps taken (one per line)",
                {"type": "plain_text_input", "multiline": True, "max_length": 3000},
                optional=True,
            ),
            _input(Field.SUMMARY, "Summary", {"type": "plain_text_input", "multiline": True, "max_length": 2000}),
        ],
    }


def _severity_option(severity: str) -> dict[str, Any]:
    return {"text": _plain(severity), "value": severity}


def declare_modal(title: str, origin: str) -> dict[str, Any]:
    """``/incident <title>``: the title (prefilled), a severity select, the service and what is seen."""
    title_input: dict[str, Any] = {"type": "plain_text_input", "max_length": 200}
    if title.strip():
        title_input["initial_value"] = _clip(title, 200)
    return {
        "type": "modal",
        "callback_id": CallbackId.DECLARE.value,
        "private_metadata": origin,
        "title": _plain("Declare an incident", 24),
        "submit": _plain("Declare", 24),
        "close": _plain("Cancel", 24),
        "blocks": [
            _input(Field.TITLE, "What is happening?", title_input),
            _input(
                Field.SEVERITY,
                "Severity",
                {
                    "type": "static_select",
                    "options": [_severity_option(s) for s in reversed(SEVERITIES)],
                    "initial_option": _severity_option("high"),
                },
            ),
            _input(Field.SERVICE, "Affected service", {"type": "plain_text_input", "max_length": 100}, optional=True),
            _input(
                Field.DESCRIPTION,
                "What do you see?",
                {"type": "plain_text_input", "multiline": True, "max_length": 3000},
                optional=True,
            ),
        ],
    }


def _value(state: Mapping[str, Any], field: Field) -> Any:
    values = state.get("values") if isinstance(state, Mapping) else None
    block = values.get(field.value) if isinstance(values, Mapping) else None
    entry = block.get(VALUE) if isinstance(block, Mapping) else None
    if not isinstance(entry, Mapping):
        return None
    if entry.get("type") == "static_select":
        option = entry.get("selected_option")
        return option.get("value") if isinstance(option, Mapping) else None
    return entry.get("value")


def _text(state: Mapping[str, Any], field: Field) -> str:
    value = _value(state, field)
    return value.strip() if isinstance(value, str) else ""


def parse_resolution(state: Mapping[str, Any]) -> tuple[list[str], str] | dict[str, str]:
    """(resolution_steps, resolution_summary) from the resolve modal, or errors per block id."""
    summary = _text(state, Field.SUMMARY)
    if not summary:
        return {Field.SUMMARY.value: "Say in a sentence what fixed it."}
    steps = [line.strip(" -•*\t") for line in _text(state, Field.STEPS).splitlines()]
    return [s for s in steps if s], summary


def parse_declaration(state: Mapping[str, Any]) -> tuple[str, str, str | None, str | None] | dict[str, str]:
    """(title, severity, service, description) from the declare modal, or errors per block id."""
    title, severity = _text(state, Field.TITLE), _text(state, Field.SEVERITY)
    errors = {}
    if not title:
        errors[Field.TITLE.value] = "Give the incident a title."
    if severity not in SEVERITIES:
        errors[Field.SEVERITY.value] = f"Pick one of {', '.join(SEVERITIES)}."
    if errors:
        return errors
    return title, severity, _text(state, Field.SERVICE) or None, _text(state, Field.DESCRIPTION) or None


def split_origin(metadata: str) -> tuple[str, str | None]:
    """(incident id, channel or None) from a resolve modal's ``private_metadata``."""
    incident_id, _, channel = metadata.partition("|")
    return incident_id, channel or None
