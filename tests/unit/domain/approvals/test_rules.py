from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.approvals.policy import RiskLevel
from domain.approvals.rules import (
    DEFAULT_EXPIRES_IN_S,
    Decision,
    InvalidField,
    channel_for,
    continuation,
    continuation_event_type,
    is_open,
    parse_new,
    parse_reason,
    parse_wait,
    slack_date,
    why_closed,
)

NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
GOOD = {"agent_name": "a", "action_type": "b", "action_details": {"x": 1}, "risk_level": "high"}


def test_parse_new_with_defaults() -> None:
    new = parse_new(GOOD)
    assert new.risk_level is RiskLevel.HIGH and new.expires_in_s == DEFAULT_EXPIRES_IN_S
    assert new.continuation_payload == {} and new.channel is None and new.continuation_event_type is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"risk_level": "urgent"}, "risk_level"),
        ({"action_details": []}, "action_details"),
        ({"agent_name": ""}, "agent_name"),
        ({"expires_in_s": 1.5}, "expires_in_s"),
        ({"expires_in_s": 10**9}, "expires_in_s"),
        ({"channel": "general"}, "channel"),
        ({"thread_ts": "1.2.3", "channel": "C0ABC"}, "thread_ts"),
        ({"thread_ts": "1712345678.000100"}, "channel"),
    ],
)
def test_parse_new_names_the_bad_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidField) as caught:
        parse_new({**GOOD, **change})
    assert caught.value.field == field


def test_parse_new_requires_an_object_and_each_field() -> None:
    with pytest.raises(InvalidField, match="body"):
        parse_new([GOOD])
    for name in GOOD:
        with pytest.raises(InvalidField) as caught:
            parse_new({k: v for k, v in GOOD.items() if k != name})
        assert caught.value.field == name


def test_wait_and_reason() -> None:
    assert parse_wait(None) == 0 and parse_wait("2.5") == 2.5 and parse_wait("60") == 60
    for bad in ("61", "-1", "soon"):
        with pytest.raises(InvalidField, match="wait"):
            parse_wait(bad)
    assert parse_reason("  because  ") == "because" and parse_reason("   ") is None and parse_reason(None) is None
    with pytest.raises(InvalidField):
        parse_reason(3)


def test_continuation_merges_the_decision_over_the_payload() -> None:
    payload = continuation(
        {"step": 3, "decision": "spoofed"},
        approval_id="id-1",
        decision=Decision.REJECTED,
        decided_at=NOW,
    )
    assert payload == {"step": 3, "approval_id": "id-1", "decision": "rejected", "decided_at": NOW.isoformat()}
    assert continuation_event_type(None) == "approval.decided" and continuation_event_type("x.y") == "x.y"


def test_open_and_late_explanations() -> None:
    later = NOW + timedelta(hours=1)
    assert is_open("pending", later, NOW) and not is_open("pending", NOW, NOW) and not is_open("approved", later, NOW)
    text = why_closed("approved", resolved_by="U9", resolved_at=NOW, expires_at=later, now=NOW)
    assert text.startswith("This request was already approved by <@U9> at <!date^") and "2026-11-27 18:00 UTC" in text
    assert "rejected by <@U9>" in why_closed("rejected", resolved_by="U9", resolved_at=NOW, expires_at=later, now=NOW)
    assert "expired" in why_closed("pending", resolved_by=None, resolved_at=None, expires_at=NOW, now=NOW)
    assert "expired" in why_closed("expired", resolved_by=None, resolved_at=NOW, expires_at=NOW, now=NOW)
    cancelled = why_closed("cancelled", resolved_by="api:agent", resolved_at=NOW, expires_at=later, now=NOW)
    assert "withdrawn" in cancelled and "<@api" not in cancelled


def test_slack_date_format() -> None:
    assert slack_date(NOW) == f"<!date^{int(NOW.timestamp())}^{{date_short_pretty}} at {{time}}|2026-11-27 18:00 UTC>"


def test_channel_choice() -> None:
    per_risk = {"critical": "C0CRIT"}
    assert channel_for("C0MINE", per_risk, RiskLevel.CRITICAL, "C0DEF") == "C0MINE"
    assert channel_for(None, per_risk, RiskLevel.CRITICAL, "C0DEF") == "C0CRIT"
    assert channel_for(None, per_risk, RiskLevel.LOW, "C0DEF") == "C0DEF"
    assert channel_for(None, None, RiskLevel.LOW, None) is None
