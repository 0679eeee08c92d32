"""Block Kit for coding requests, as pure functions: the modal, its validation, slash-command answers, App Home."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.approvals.blocks import buttons, escape
from domain.approvals.rules import Approval
from domain.coding_requests.rules import (
    OPEN,
    PRIORITY_VALUES,
    STATUS_VALUES,
    STATUS_WORDS,
    TYPE_VALUES,
    CodingRequest,
    Priority,
    RequestType,
    SlackOrigin,
    Status,
)

COMMAND = "/coding-request"
TITLE_MAX = 200
DESCRIPTION_MAX = 3000
HOME_REQUESTS_MAX = 20
HOME_APPROVALS_MAX = 15


class CallbackId(StrEnum):
    MODAL = "coding_request_modal"
    SHORTCUT = "send_to_coding_agent"


class Field(StrEnum):
    """Input block ids of the modal (each input's action id is ``value``)."""

    TITLE = "title"
    DESCRIPTION = "description"
    TYPE = "request_type"
    PRIORITY = "priority"


VALUE = "value"


def _text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _md(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _option(value: str) -> dict[str, Any]:
    return {"text": _text(value.replace("_", " ").capitalize()), "value": value}


# --- the modal ------------------------------------------------------------------------------------


def modal(origin: SlackOrigin, *, title: str = "", description: str = "") -> dict[str, Any]:
    """The filing modal, prefilled; ``private_metadata`` carries the Slack origin to the submission."""
    title_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": VALUE,
        "max_length": TITLE_MAX,
        "placeholder": _text("What should the coding agent do?"),
    }
    if title.strip():
        title_input["initial_value"] = title.strip()[:TITLE_MAX]
    description_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": VALUE,
        "multiline": True,
        "max_length": DESCRIPTION_MAX,
    }
    if description.strip():
        description_input["initial_value"] = description.strip()[:DESCRIPTION_MAX]
    return {
        "type": "modal",
        "callback_id": CallbackId.MODAL.value,
        "title": _text("Coding request"),
        "submit": _text("File request"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps({"origin": origin.source_id}),
        "blocks": [
            {"type": "input", "block_id": Field.TITLE, "label": _text("Title"), "element": title_input},
            {
                "type": "input",
                "block_id": Field.DESCRIPTION,
                "optional": True,
                "label": _text("Description"),
                "element": description_input,
            },
            {
                "type": "input",
                "block_id": Field.TYPE,
                "label": _text("Type"),
                "element": {
                    "type": "static_select",
                    "action_id": VALUE,
                    "options": [_option(t.value) for t in RequestType],
                    "initial_option": _option(RequestType.FEATURE.value),
                },
            },
            {
                "type": "input",
                "block_id": Field.PRIORITY,
                "label": _text("Priority"),
                "element": {
                    "type": "static_select",
                    "action_id": VALUE,
                    "options": [_option(p.value) for p in Priority],
                    "initial_option": _option(Priority.MEDIUM.value),
                },
            },
        ],
    }


@dataclass(frozen=True)
class Draft:
    origin: SlackOrigin
    title: str
    description: str | None
    request_type: RequestType
    priority: Priority


def origin_of(private_metadata: str) -> SlackOrigin | None:
    try:
        meta = json.loads(private_metadata or "{}")
    except json.JSONDecodeError:
        return None
    source_id = meta.get("origin") if isinstance(meta, dict) else None
    return SlackOrigin.from_source_id(source_id) if isinstance(source_id, str) and ":" in source_id else None


def _value(values: Mapping[str, Any], block: Field) -> str | None:
    state = (values.get(block.value) or {}).get(VALUE) or {}
    if state.get("type") == "static_select":
        return ((state.get("selected_option") or {}).get("value")) or None
    value = state.get("value")
    return value if isinstance(value, str) else None


def parse_submission(view: Mapping[str, Any]) -> Draft | dict[str, str]:
    """A Draft from a ``view_submission``'s view, or Slack's ``errors`` (block id -> message)."""
    values = (view.get("state") or {}).get("values") or {}
    errors: dict[str, str] = {}
    title = (_value(values, Field.TITLE) or "").strip()
    if len(title) < 3:
        errors[Field.TITLE] = "Give the request a title of at least 3 characters."
    elif len(title) > TITLE_MAX:
        errors[Field.TITLE] = f"Keep the title under {TITLE_MAX} characters."
    description = (_value(values, Field.DESCRIPTION) or "").strip()
    if len(description) > DESCRIPTION_MAX:
        errors[Field.DESCRIPTION] = f"Keep the description under {DESCRIPTION_MAX} characters."
    raw_type = _value(values, Field.TYPE) or RequestType.FEATURE.value
    if raw_type not in TYPE_VALUES:
        errors[Field.TYPE] = "Choose feature, bug, chore or refactor."
    raw_priority = _value(values, Field.PRIORITY) or Priority.MEDIUM.value
    if raw_priority not in PRIORITY_VALUES:
        errors[Field.PRIORITY] = "Choose low, medium, high or urgent."
    origin = origin_of(str(view.get("private_metadata") or ""))
    if origin is None:
        errors[Field.TITLE] = "This form has expired: close it and run /coding-request again."
    if errors or origin is None:
        return errors
    return Draft(origin, title, description or None, RequestType(raw_type), Priority(raw_priority))


# --- the slash command -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    kind: str  # "open" | "status" | "mine" | "help"
    title: str = ""
    number: int | None = None


STATUS_ARG = re.compile(r"^status(?:\s+#?(\d{1,9}))?\s*$", re.IGNORECASE)


def parse_command(text: str) -> Command:
    """``/coding-request [title] | status <number> | mine | help``."""
    text = (text or "").strip()
    if text.lower() == "mine":
        return Command("mine")
    if text.lower() == "help":
        return Command("help")
    match = STATUS_ARG.match(text)
    if match:
        return Command("status", number=int(match.group(1))) if match.group(1) else Command("help")
    return Command("open", title=text)


HELP = (
    f"`{COMMAND}` opens the form; `{COMMAND} <title>` prefills it; "
    f"`{COMMAND} status <number>` shows one request; `{COMMAND} mine` lists your open requests."
)


def _link(req: CodingRequest) -> str:
    if req.pr_url:
        return f" · <{req.pr_url}|PR #{req.pr_number}>" + (f" ({req.pr_status})" if req.pr_status else "")
    return ""


def _line(req: CodingRequest) -> str:
    words = STATUS_WORDS[Status(req.status)] if req.status in STATUS_VALUES else req.status
    return f"*#{req.request_number}* {req.title} — {req.status.replace('_', ' ')} ({words}){_link(req)}"


def status_answer(number: int, req: CodingRequest | None) -> dict[str, Any]:
    if req is None:
        return {"text": f"There is no coding request #{number}."}
    lines = [_line(req), f"Type: {req.request_type} · priority: {req.priority} · from {req.source}"]
    if req.branch_name:
        lines.append(f"Branch: `{req.branch_name}`")
    text = "\n".join(lines)
    return {"text": text, "blocks": [{"type": "section", "text": _md(text)}]}


def mine_answer(requests: Iterable[CodingRequest]) -> dict[str, Any]:
    found = list(requests)
    if not found:
        return {"text": "You have no open coding requests."}
    text = "Your open coding requests:\n" + "\n".join(_line(r) for r in found)
    return {"text": text, "blocks": [{"type": "section", "text": _md(text[:3000])}]}


# --- App Home -----------------------------------------------------------------------------------------


def _summary(details: Any) -> str:
    if isinstance(details, dict):
        for key in ("summary", "description", "reason", "title"):
            if isinstance(details.get(key), str):
                return str(details[key])
    return json.dumps(details, separators=(",", ":"), default=str)[:300] if details else ""


def message_link(channel: str, ts: str) -> str:
    """A link to a message built from its channel and timestamp (when Slack's permalink is not at hand)."""
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def home_view(
    requests: Iterable[CodingRequest],
    approvals: Iterable[Approval],
    in_channel: Iterable[tuple[Approval, str | None]] = (),
) -> dict[str, Any]:
    """The App Home tab: the user's open coding requests, then the approvals waiting for them.

    ``approvals`` (the user is a listed approver) get the decision buttons. ``in_channel`` (levels with no
    approver list, decided by anyone in the request's channel) get a link to the message there (None: not
    posted yet) and no buttons, nor the details: App Home is open to the whole workspace."""
    mine = [r for r in requests if r.status in OPEN][:HOME_REQUESTS_MAX]
    waiting = list(approvals)[:HOME_APPROVALS_MAX]
    elsewhere = list(in_channel)[:HOME_APPROVALS_MAX]
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _text("Your coding requests")}]
    if mine:
        blocks += [{"type": "section", "text": _md(_line(r))} for r in mine]
    else:
        blocks.append({"type": "context", "elements": [_md(f"No open coding requests. File one with `{COMMAND}`.")]})
    blocks += [{"type": "divider"}, {"type": "header", "text": _text("Approvals waiting for you")}]
    if not waiting and not elsewhere:
        blocks.append({"type": "context", "elements": [_md("Nothing to decide right now.")]})
    for a in waiting:
        text = f"*{escape(a.agent_name)}* wants to *{escape(a.action_type)}* (risk: {a.risk.value})"
        summary = _summary(a.action_details)
        if summary:
            text += f"\n{escape(summary[:500])}"
        blocks += [{"type": "section", "text": _md(text)}, buttons(a)]
    for a, link in elsewhere:
        where = f"<{link}|its message in the channel>" if link else "its message in the channel (not posted yet)"
        text = (
            f"*{escape(a.agent_name)}* wants to *{escape(a.action_type)}* (risk: {a.risk.value})\n"
            f"Anyone in the channel may decide it there: {where}"
        )
        blocks.append({"type": "section", "text": _md(text)})
    return {"type": "home", "blocks": blocks}
