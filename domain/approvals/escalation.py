"""Escalation of unanswered requests as pure rules over the ``approvals.escalation`` setting.

``{"high": {"after_s": 900, "widen_after_s": 900}}``: ``after_s`` after a high-risk request was made it is
``reminded`` (a thread reply mentioning its approvers and a DM to each listed one); ``widen_after_s`` later
(default ``after_s``) it is ``widened`` (the next risk level's approvers may decide too). Time is injected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from domain.approvals.blocks import escape
from domain.approvals.policy import NEXT_LEVEL, RiskLevel, approvers_for


class Step(StrEnum):
    REMINDED = "reminded"
    WIDENED = "widened"
    UNDELIVERABLE = "undeliverable"  # the watchdog's report: its Slack message could not be posted


@dataclass(frozen=True)
class Timing:
    after_s: int
    widen_after_s: int


def timing(setting: Mapping[str, Any] | None, risk: RiskLevel) -> Timing | None:
    """The escalation timing for ``risk``, or None when requests of that level only wait (and expire)."""
    entry = (setting or {}).get(risk.value)
    if not isinstance(entry, Mapping):
        return None
    after = entry.get("after_s")
    if not isinstance(after, int) or isinstance(after, bool) or after <= 0:
        return None
    widen = entry.get("widen_after_s", after)
    return Timing(after, widen if isinstance(widen, int) and not isinstance(widen, bool) and widen > 0 else after)


def due_steps(
    plan: Timing | None, risk: RiskLevel, created_at: datetime, done: frozenset[str], now: datetime
) -> list[Step]:
    """The steps due at ``now`` and not taken yet, in order (a late job takes them all at once)."""
    if plan is None:
        return []
    steps: list[Step] = []
    reminded_at = created_at + timedelta(seconds=plan.after_s)
    if now >= reminded_at and Step.REMINDED not in done:
        steps.append(Step.REMINDED)
    widened_at = reminded_at + timedelta(seconds=plan.widen_after_s)
    if now >= widened_at and Step.WIDENED not in done and risk in NEXT_LEVEL:
        steps.append(Step.WIDENED)
    return steps


def mentions(ids: Sequence[str]) -> str:
    """Slack mentions of users (``<@U…>``) and user groups (``<!subteam^S…>``)."""
    return " ".join(f"<!subteam^{i}>" if i.startswith("S") else f"<@{i}>" for i in ids)


def reminder_text(setting: Mapping[str, Sequence[str]] | None, risk: RiskLevel, step: Step) -> str:
    """The thread reply of an escalation step (mrkdwn); ``setting`` is the approvers as they now stand."""
    users, groups = approvers_for(setting, risk)
    who = mentions([*users, *groups])
    if step == Step.WIDENED:
        head = ":rotating_light: Still unanswered: the next risk level's approvers may decide it now."
    else:
        head = ":bell: This request is still waiting for a decision."
    return f"{head} {who}" if who else f"{head} Anyone in this channel may decide it."


def direct_message_text(agent_name: str, action_type: str, channel: str | None) -> str:
    where = f" in <#{channel}>" if channel else ""
    return (
        f":bell: An approval request is waiting for you{where}: {escape(agent_name)} wants to `{escape(action_type)}`."
    )
