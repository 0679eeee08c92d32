"""Who may decide an approval request: pure rules over the ``approvals.approvers`` setting.

The setting maps a risk level to Slack ids: users (``U…``/``W…``) and user groups (``S…``), e.g.
``{"high": ["U012AB3CD", "S0614TZR7"], "critical": ["S0614TZR7"]}``. With no list for a level, anyone
in the channel may decide ``low`` and ``medium``; ``high`` and ``critical`` are refused until a list is
configured.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


OPEN_BY_DEFAULT = frozenset({RiskLevel.LOW, RiskLevel.MEDIUM})


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str


def approvers_for(setting: Mapping[str, Sequence[str]] | None, risk: RiskLevel) -> tuple[list[str], list[str]]:
    """(user ids, user-group ids) configured for ``risk``."""
    ids = list((setting or {}).get(risk.value, []))
    return [i for i in ids if not i.startswith("S")], [i for i in ids if i.startswith("S")]


def judge(
    setting: Mapping[str, Sequence[str]] | None,
    risk: RiskLevel,
    user_id: str,
    groups_of_user: frozenset[str] = frozenset(),
) -> Verdict:
    """May ``user_id`` (a member of ``groups_of_user``, among the configured groups) decide at ``risk``?"""
    users, groups = approvers_for(setting, risk)
    if not users and not groups:
        if risk in OPEN_BY_DEFAULT:
            return Verdict(True, "no approver list for this risk level: anyone in the channel may decide")
        return Verdict(
            False,
            f"{risk.value} risk requests need an approver list: set approvals.approvers.{risk.value} "
            "in agent_swarm_config",
        )
    if user_id in users or groups_of_user & set(groups):
        return Verdict(True, "listed approver")
    return Verdict(False, f"only the approvers listed for {risk.value} risk may decide this request")


async def may_decide(
    setting: Mapping[str, Sequence[str]] | None,
    risk: RiskLevel,
    user_id: str,
    members_of: Callable[[str], Awaitable[frozenset[str]]],
) -> Verdict:
    """``judge`` with user-group membership looked up through ``members_of(group_id)`` (cache it there)."""
    _, groups = approvers_for(setting, risk)
    mine = frozenset([g for g in groups if user_id in await members_of(g)])
    return judge(setting, risk, user_id, mine)
