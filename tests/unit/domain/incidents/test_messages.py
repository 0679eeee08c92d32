"""The incident announcement's buttons, the coalesced reply and the modals (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.incidents import messages as m
from domain.incidents.messages import ActionId, Field

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
INCIDENT: dict[str, Any] = {
    "id": "0b9f6a8e-0000-4000-8000-000000000001",
    "incident_number": 7,
    "severity": "medium",
    "status": "detected",
    "source": "sentry",
    "incident_type": "application_error",
    "title": "<!channel> TypeError in checkout",
    "affected_services": ["checkout"],
    "error_details": {},
    "created_at": NOW - timedelta(minutes=12),
}


def ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize(
    ("status", "severity", "expected"),
    [
        ("detected", "medium", ["incident_acknowledge", "incident_mitigate", "incident_resolve", "incident_escalate"]),
        ("acknowledged", "medium", ["incident_mitigate", "incident_resolve", "incident_escalate"]),
        ("mitigating", "critical", ["incident_resolve"]),
        ("ignored", "high", ["incident_resolve"]),
        ("resolved", "low", []),
    ],
)
def test_buttons_follow_the_status(status: str, severity: str, expected: list[str]) -> None:
    _, blocks = m.announcement({**INCIDENT, "status": status, "severity": severity}, now=NOW)
    assert ids(blocks) == expected


def test_announcement_shows_status_owner_durations_and_escapes() -> None:
    owned = {**INCIDENT, "status": "mitigating", "time_to_mitigate_ms": 180_000, "error_details": {"owner": "U0A"}}
    text, blocks = m.announcement(owned, now=NOW, agents=["triage-agent", "triage-agent", "x" * 200])
    shown = str(blocks)
    assert "[mitigating]" in text and "<@U0A>" in shown and "mitigating after 3m" in shown and "open for 12m" in shown
    assert "<!channel>" not in str(blocks[1:])
    escalate = next(
        e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "incident_escalate"
    )
    assert escalate["value"] == f"{INCIDENT['id']}:medium"
    [select] = [e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "static_select"]
    assert [o["value"] for o in select["options"]] == ["triage-agent"]


def test_resolved_announcement_has_the_resolution_and_no_buttons() -> None:
    done = {**INCIDENT, "status": "resolved", "resolved_by": "U0BOB", "time_to_resolve_ms": 3_723_000}
    _, blocks = m.announcement({**done, "resolution_summary": "rolled back"}, now=NOW, agents=["a"])
    assert ids(blocks) == [] and "resolved in 1h 02m" in str(blocks) and "<@U0BOB>" in str(blocks)
    assert "rolled back" in str(blocks)


def test_a_burst_is_one_reply_in_order() -> None:
    items = [
        {"status": "acknowledged", "note": "by <@U0A> from Slack"},
        *({"status": "acknowledged", "note": f"comment {i}", "dedupe_key": f"k{i}"} for i in range(3)),
    ]
    text = m.reply(INCIDENT, items)
    assert text.splitlines() == [
        "Incident #7: 4 updates",
        "• Incident #7 is now acknowledged",
        "   by <@U0A> from Slack",
        "• comment 0",
        "• comment 1",
        "• comment 2",
    ]
    assert m.reply(INCIDENT, items[1:2]) == "Incident #7: comment 0"


def test_escalation_group_and_note() -> None:
    assert m.escalation_group({"critical": "S0ONCALL"}, "critical") == "S0ONCALL"
    assert m.escalation_group({"critical": "not-a-group"}, "critical") is None
    assert m.escalation_group({}, "high") is None
    assert (
        m.escalation_note("U0A", "high", "critical", "S0ONCALL")
        == "<@U0A> escalated severity high → critical. <!subteam^S0ONCALL>"
    )


def test_modals_parse_what_was_typed() -> None:
    resolve = m.resolve_modal(INCIDENT, "C0INC")
    assert m.split_origin(resolve["private_metadata"]) == (INCIDENT["id"], "C0INC")

    def state(**values: str) -> dict[str, Any]:
        return {"values": {k: {m.VALUE: {"type": "plain_text_input", "value": v}} for k, v in values.items()}}

    assert m.parse_resolution(state(steps="- one\n\n* two ", summary=" done ")) == (["one", "two"], "done")
    assert Field.SUMMARY in m.parse_resolution(state(steps="x", summary=" "))  # type: ignore[operator]
    declare = m.declare_modal("DB down", "C0")
    assert declare["blocks"][0]["element"]["initial_value"] == "DB down"
    chosen = state(title="DB down", service="")
    chosen["values"][Field.SEVERITY] = {m.VALUE: {"type": "static_select", "selected_option": {"value": "critical"}}}
    assert m.parse_declaration(chosen) == ("DB down", "critical", None, None)
    chosen["values"][Field.SEVERITY][m.VALUE]["selected_option"]["value"] = "apocalyptic"
    assert Field.SEVERITY in m.parse_declaration(chosen)  # type: ignore[operator]


def test_action_ids_are_distinct() -> None:
    assert len({a.value for a in ActionId}) == len(ActionId)
