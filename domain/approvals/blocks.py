"""Block Kit for approvals (pure): the request message, the decided message, the reject-reason modal.

Everything stays within Slack's limits whatever the request holds: at most 50 blocks, 3000 characters
per section text, 150 per header / plain_text label, 2000 per button value. User-supplied text is
escaped for mrkdwn. The button value is the approval id (the App Home renders the same buttons).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.approvals.policy import RiskLevel
from domain.approvals.precedent import Precedent
from domain.approvals.rules import Approval, Status, slack_date

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_PLAIN_TEXT = 150
MAX_FIELD_TEXT = 2000
MAX_BUTTON_VALUE = 2000
MAX_MESSAGE_TEXT = 4000  # the notification fallback ``text``; Slack truncates long ones anyway
DETAIL_BLOCKS = 12  # room for details; the rest of the message needs fewer than 10 blocks
CODE_FENCE = "```"


class ActionId(StrEnum):
    APPROVE = "approval_approve"
    REJECT = "approval_reject"
    EDIT = "approval_edit"


class CallbackId(StrEnum):
    REJECT_REASON = "approval_reject_reason"
    EDIT = "approval_edit_submit"


@dataclass(frozen=True)
class Shown:
    """What the request message shows beyond the row: votes so far, the Edit button, precedent."""

    approvers_voted: tuple[str, ...] = ()
    quorum: int = 1
    editable: bool = False
    precedents: tuple[Precedent, ...] = ()


REASON_BLOCK = "reason"
REASON_INPUT = "reason_input"
OPTION_BLOCK = "reject_option"
OPTION_INPUT = "reject_option_input"

RISK_BADGE = {
    RiskLevel.LOW: ":large_green_circle: low",
    RiskLevel.MEDIUM: ":large_yellow_circle: medium",
    RiskLevel.HIGH: ":large_orange_circle: *high*",
    RiskLevel.CRITICAL: ":red_circle: *CRITICAL*",
}
OUTCOME = {
    Status.APPROVED: ":white_check_mark: Approved",
    Status.REJECTED: ":no_entry: Rejected",
    Status.EXPIRED: ":hourglass: Expired",
    Status.CANCELLED: ":heavy_multiplication_x: Withdrawn",
}


def escape(text: str) -> str:
    """Slack mrkdwn control characters, so user text renders as text (and mentions nobody)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: str, limit: int = MAX_PLAIN_TEXT) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, limit)}


def details_blocks(details: dict[str, Any], max_blocks: int = DETAIL_BLOCKS) -> list[dict[str, Any]]:
    """The details as pretty JSON in code sections, split to fit; what does not fit is summarised."""
    pretty = escape(json.dumps(details, indent=2, ensure_ascii=False, sort_keys=True, default=str))
    room = MAX_SECTION_TEXT - 2 * len(CODE_FENCE) - 2
    chunks: list[str] = []
    rest = pretty
    while rest and len(chunks) < max_blocks:
        if len(rest) <= room:
            chunks.append(rest)
            rest = ""
            break
        cut = rest.rfind("\n", 0, room)
        cut = cut if cut > room // 2 else room
        # never split an escape such as &amp; in two
        amp = rest.rfind("&", max(0, cut - 5), cut)
        if amp != -1 and ";" not in rest[amp:cut]:
            cut = amp
        chunks.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": mrkdwn(f"{CODE_FENCE}\n{c}\n{CODE_FENCE}")} for c in chunks
    ]
    if rest:
        note = mrkdwn(f"_… {len(rest):,} more characters of details not shown_")
        blocks.append({"type": "context", "elements": [note]})
    return blocks


def _summary(approval: Approval) -> list[dict[str, Any]]:
    risk = approval.risk
    return [
        {"type": "header", "text": plain(f"Approval needed: {approval.action_type}")},
        {
            "type": "section",
            "fields": [
                mrkdwn(f"*Agent*\n{escape(approval.agent_name)}", MAX_FIELD_TEXT),
                mrkdwn(f"*Action*\n`{escape(approval.action_type)}`", MAX_FIELD_TEXT),
                mrkdwn(f"*Risk*\n{RISK_BADGE[risk]}", MAX_FIELD_TEXT),
                mrkdwn(f"*Expires*\n{slack_date(approval.expires_at)}", MAX_FIELD_TEXT),
            ],
        },
        *details_blocks(approval.action_details),
    ]


def _confirm(approval: Approval, verb: str) -> dict[str, Any]:
    return {
        "title": plain(f"{verb} this {approval.risk.value}-risk action?", 100),
        "text": mrkdwn(
            f"{escape(approval.agent_name)} will {'go ahead with' if verb == 'Approve' else 'stop'} "
            f"`{escape(approval.action_type)}`.",
            300,
        ),
        "confirm": plain(verb, 30),
        "deny": plain("Cancel", 30),
        "style": "primary" if verb == "Approve" else "danger",
    }


def buttons(approval: Approval, *, editable: bool = False) -> dict[str, Any]:
    """The Approve / (Edit and approve) / Reject actions block; a confirmation dialog for high and critical
    risk (the edit modal is its own confirmation)."""
    value = str(approval.id)
    assert len(value) <= MAX_BUTTON_VALUE
    approve: dict[str, Any] = {
        "type": "button",
        "action_id": ActionId.APPROVE.value,
        "text": plain("Approve"),
        "style": "primary",
        "value": value,
    }
    reject: dict[str, Any] = {
        "type": "button",
        "action_id": ActionId.REJECT.value,
        "text": plain("Reject"),
        "style": "danger",
        "value": value,
    }
    if approval.risk in (RiskLevel.HIGH, RiskLevel.CRITICAL):
        approve["confirm"] = _confirm(approval, "Approve")
        reject["confirm"] = _confirm(approval, "Reject")
    elements = [approve, reject]
    if editable:
        edit = {"type": "button", "action_id": ActionId.EDIT.value, "text": plain("Edit and approve"), "value": value}
        elements.insert(1, edit)
    return {"type": "actions", "block_id": f"approval:{value}", "elements": elements}


def votes_block(shown: Shown) -> dict[str, Any] | None:
    """'1 of 2 approvals so far: @a' under a request that needs a quorum."""
    if shown.quorum <= 1:
        return None
    who = ", ".join(f"<@{v}>" for v in shown.approvers_voted) or "none yet"
    text = f":ballot_box_with_ballot: *{len(shown.approvers_voted)} of {shown.quorum}* approvals so far: {who}"
    return {"type": "context", "elements": [mrkdwn(text)]}


def precedent_blocks(precedents: tuple[Precedent, ...]) -> list[dict[str, Any]]:
    """The most similar earlier decisions: decision, when, reason, and what happened afterwards."""
    if not precedents:
        return []
    lines = []
    for p in precedents:
        e = p.earlier
        mark = OUTCOME.get(Status(e.decision), e.decision) if e.decision in set(Status) else e.decision
        reason = f" — “{escape(clip(e.reason, 200))}”" if e.reason else ""
        after = f"; afterwards: {p.aftermath}" if p.aftermath else ""
        lines.append(f"• {mark} {slack_date(e.decided_at, '{date_short}')} ({p.score:.0%} alike){reason}{after}")
    return [
        {"type": "context", "elements": [mrkdwn("*Similar earlier decisions*\n" + "\n".join(lines))]},
    ]


def fallback_text(approval: Approval) -> str:
    return clip(
        f"Approval needed ({approval.risk.value} risk): {approval.agent_name} wants to {approval.action_type}",
        MAX_MESSAGE_TEXT,
    )


def outcome_line(approval: Approval) -> str:
    """One mrkdwn line: the decision, who and when."""
    status = Status(approval.status)
    if status == Status.PENDING:
        return f"Waiting for a decision; expires {slack_date(approval.expires_at)}"
    who = approval.resolved_by or ""
    by = f" by <@{who}>" if who and not who.startswith("api:") else ""
    when = f" {slack_date(approval.resolved_at)}" if approval.resolved_at else ""
    if status == Status.CANCELLED:
        by = " by the requesting agent"
    return f"{OUTCOME[status]}{by}{when}"


def request_message(approval: Approval, shown: Shown = Shown()) -> dict[str, Any]:
    """chat.postMessage arguments (text + blocks) for a request, pending or already closed."""
    if approval.status != Status.PENDING:
        return decided_message(approval)
    votes = votes_block(shown)
    blocks = [
        *_summary(approval),
        *precedent_blocks(shown.precedents),
        *([votes] if votes else []),
        buttons(approval, editable=shown.editable),
    ]
    assert len(blocks) <= MAX_BLOCKS
    return {"text": fallback_text(approval), "blocks": blocks}


def decided_message(approval: Approval) -> dict[str, Any]:
    """chat.update arguments: the buttons replaced by the decision, who and when (and the reason)."""
    blocks = _summary(approval)
    blocks[0] = {"type": "header", "text": plain(f"Approval: {approval.action_type}")}
    blocks.append({"type": "divider"})
    blocks.append({"type": "section", "text": mrkdwn(outcome_line(approval))})
    if approval.rejection_reason:
        blocks.append({"type": "section", "text": mrkdwn(f"*Reason*\n>{escape(approval.rejection_reason)}")})
    assert len(blocks) <= MAX_BLOCKS
    status = Status(approval.status)
    return {
        "text": clip(f"{OUTCOME[status]}: {approval.agent_name} / {approval.action_type}", MAX_MESSAGE_TEXT),
        "blocks": blocks,
    }


def thread_reply(approval: Approval) -> str:
    """The reply in the request's thread after it closed (mrkdwn)."""
    text = outcome_line(approval)
    if approval.rejection_reason:
        text += f"\n>{escape(approval.rejection_reason)}"
    return clip(text, MAX_MESSAGE_TEXT)


OUTSIDE_CHANNEL = "|outside"


def reject_modal(
    approval_id: str, action_type: str, *, from_message: bool = True, options: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The modal asking why; ``private_metadata`` carries the approval id to the submission, marked when the
    Reject click did not come from the request's message (App Home), where only listed approvers decide.
    With the request's ``reject_options`` it offers them beside the free text (either will do)."""
    modal: dict[str, Any] = {
        "type": "modal",
        "callback_id": CallbackId.REJECT_REASON.value,
        "private_metadata": approval_id if from_message else approval_id + OUTSIDE_CHANNEL,
        "title": plain("Reject request", 24),
        "submit": plain("Reject", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            {"type": "section", "text": mrkdwn(f"Rejecting `{escape(action_type)}`. The agent will be told why.")},
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": plain("Reason"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "max_length": 3000,
                    "placeholder": plain("What should the agent do instead?"),
                },
            },
        ],
    }
    if options:
        reason_input = modal["blocks"][1]
        reason_input["optional"] = True
        reason_input["label"] = plain("Reason (or pick an option above)")
        choice = {
            "type": "input",
            "block_id": OPTION_BLOCK,
            "optional": True,
            "label": plain("What should the agent do?"),
            "element": {
                "type": "radio_buttons",
                "action_id": OPTION_INPUT,
                "options": [{"text": plain(o, 75), "value": str(i)} for i, o in enumerate(options)],
            },
        }
        modal["blocks"].insert(1, choice)
    return modal


def modal_origin(private_metadata: str) -> tuple[str, bool]:
    """(the approval id, whether the modal was opened from the request's message) of a reject modal."""
    if private_metadata.endswith(OUTSIDE_CHANNEL):
        return private_metadata.removesuffix(OUTSIDE_CHANNEL), False
    return private_metadata, True


def option_from(view_state: dict[str, Any], options: tuple[str, ...]) -> str | None:
    """The reject option chosen in the modal (by its index), or None."""
    chosen = view_state.get("values", {}).get(OPTION_BLOCK, {}).get(OPTION_INPUT, {}).get("selected_option")
    value = chosen.get("value") if isinstance(chosen, dict) else None
    if isinstance(value, str) and value.isdigit() and int(value) < len(options):
        return options[int(value)]
    return None


def reason_from(view_state: dict[str, Any]) -> str | None:
    """The reason typed into the reject modal, from a view_submission's ``view.state.values``."""
    value = view_state.get("values", {}).get(REASON_BLOCK, {}).get(REASON_INPUT, {}).get("value")
    return value if isinstance(value, str) else None
