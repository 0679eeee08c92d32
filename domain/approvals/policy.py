"""Who may decide an approval request: pure rules over the ``approvals.approvers`` setting.

The setting maps a risk level to Slack ids: users (``U…``/``W…``) and user groups (``S…``), e.g.
``{"high": ["U012AB3CD", "S0614TZR7"], "critical": ["S0614TZR7"]}``. With no list for a level, anyone
in the channel may decide ``low`` and ``medium`` there, on the request's message (a click from anywhere
else, such as App Home, which every workspace member has, needs a list); ``high`` and ``critical`` are
refused until a list is configured.
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


def decided_in_channel(setting: Mapping[str, Sequence[str]] | None, risk: RiskLevel) -> bool:
    """No list for ``risk``, and it is a level anyone in the request's channel may decide."""
    users, groups = approvers_for(setting, risk)
    return not users and not groups and risk in OPEN_BY_DEFAULT


def judge(
    setting: Mapping[str, Sequence[str]] | None,
    risk: RiskLevel,
    user_id: str,
    groups_of_user: frozenset[str] = frozenset(),
    *,
    in_channel: bool = True,
) -> Verdict:
    """May ``user_id`` (a member of ``groups_of_user``, among the configured groups) decide at ``risk``?

    ``in_channel``: the click came from the request's own message in its channel."""
    users, groups = approvers_for(setting, risk)
    if not users and not groups:
        if risk in OPEN_BY_DEFAULT and in_channel:
            return Verdict(True, "no approver list for this risk level: anyone in the channel may decide")
        if risk in OPEN_BY_DEFAULT:
            return Verdict(
                False,
                f"with no approver list for {risk.value} risk, it is decided in its channel: "
                "use the buttons on its message there",
            )
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
    *,
    in_channel: bool = True,
) -> Verdict:
    """``judge`` with user-group membership looked up through ``members_of(group_id)`` (cache it there)."""
    users, groups = approvers_for(setting, risk)
    if user_id in users:  # listed by name: no group needs looking up
        return judge(setting, risk, user_id, in_channel=in_channel)
    for group in groups:  # the first group that has the user is enough
        if user_id in await members_of(group):
            return judge(setting, risk, user_id, frozenset([group]), in_channel=in_channel)
    return judge(setting, risk, user_id, in_channel=in_channel)


NEXT_LEVEL = {RiskLevel.LOW: RiskLevel.MEDIUM, RiskLevel.MEDIUM: RiskLevel.HIGH, RiskLevel.HIGH: RiskLevel.CRITICAL}


def widened(setting: Mapping[str, Sequence[str]] | None, risk: RiskLevel) -> dict[str, list[str]]:
    """The approvers setting once an unanswered ``risk`` request has escalated: its list plus the next
    level's. A level without a list (anyone in the channel) is left as it is: widening never narrows."""
    out = {level: list(ids) for level, ids in (setting or {}).items()}
    following = NEXT_LEVEL.get(risk)
    if not out.get(risk.value) or following is None:
        return out
    out[risk.value] = list(dict.fromkeys([*out[risk.value], *out.get(following.value, [])]))
    return out


def quorum_for(setting: Mapping[str, object] | None, risk: RiskLevel) -> int:
    """How many distinct people must approve at ``risk`` (``approvals.quorum``; default 1)."""
    value = (setting or {}).get(risk.value, 1)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1
