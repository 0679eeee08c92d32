from __future__ import annotations

from domain.approvals.policy import RiskLevel, judge, may_decide

SETTING = {"high": ["U1", "S9"], "critical": ["S9"]}


def test_low_and_medium_are_open_without_a_list() -> None:
    assert judge(None, RiskLevel.LOW, "Uanyone").allowed
    assert judge({}, RiskLevel.MEDIUM, "Uanyone").allowed


def test_high_and_critical_are_refused_without_a_list() -> None:
    verdict = judge({}, RiskLevel.CRITICAL, "U1")
    assert not verdict.allowed and "approvals.approvers.critical" in verdict.reason


def test_listed_users_and_group_members_may_decide() -> None:
    assert judge(SETTING, RiskLevel.HIGH, "U1").allowed
    assert not judge(SETTING, RiskLevel.HIGH, "U2").allowed
    assert judge(SETTING, RiskLevel.CRITICAL, "U2", frozenset({"S9"})).allowed
    assert not judge(SETTING, RiskLevel.CRITICAL, "U1").allowed, "a user listed for high is not for critical"


async def test_may_decide_resolves_groups() -> None:
    asked: list[str] = []

    async def members_of(group: str) -> frozenset[str]:
        asked.append(group)
        return frozenset({"U7"}) if group == "S9" else frozenset()

    assert (await may_decide(SETTING, RiskLevel.CRITICAL, "U7", members_of)).allowed
    assert not (await may_decide(SETTING, RiskLevel.CRITICAL, "U8", members_of)).allowed
    assert asked == ["S9", "S9"]
