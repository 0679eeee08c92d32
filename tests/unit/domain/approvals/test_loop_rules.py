"""Pure rules of issue 16's approvals: new request fields, quorum and widening, escalation steps,
precedent similarity, the edit modal and its values, reject options and the votes line."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.approvals.blocks import OPTION_BLOCK, OPTION_INPUT, Shown, option_from, reject_modal, votes_block
from domain.approvals.edits import edit_modal, values_from
from domain.approvals.escalation import Step, due_steps, mentions, reminder_text, timing
from domain.approvals.policy import RiskLevel, quorum_for, widened
from domain.approvals.precedent import Earlier, aftermath_text, most_similar, similarity
from domain.approvals.rules import InvalidField, parse_new

BASE = {"agent_name": "a", "action_type": "t", "action_details": {"n": 1, "mode": "x"}, "risk_level": "high"}
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_new_fields_parse_and_are_checked() -> None:
    new = parse_new(
        {
            **BASE,
            "requested_by": "U0ASKER",
            "editable": {"type": "object", "properties": {"n": {"type": "integer"}}},
            "reject_options": ["smaller", "later"],
        }
    )
    assert new.requested_by == "U0ASKER" and new.reject_options == ("smaller", "later") and new.has_extras
    assert not parse_new(BASE).has_extras
    for bad, field in (
        ({"requested_by": "C0CHANNEL"}, "requested_by"),
        ({"editable": {"type": "object", "properties": {"missing": {"type": "string"}}}}, "editable"),
        ({"editable": {"type": "object", "properties": {"n": {"type": "object"}}}}, "editable"),
        ({"editable": {"type": "object", "properties": {"mode": {"enum": [1, 2]}}}}, "editable"),
        ({"reject_options": ["same", "same"]}, "reject_options"),
        ({"reject_options": ["x" * 76]}, "reject_options"),
        ({"reject_options": "later"}, "reject_options"),
    ):
        with pytest.raises(InvalidField) as caught:
            parse_new({**BASE, **bad})
        assert caught.value.field == field


def test_quorum_and_widening() -> None:
    assert quorum_for({"critical": 2}, RiskLevel.CRITICAL) == 2
    assert quorum_for({"critical": 2}, RiskLevel.HIGH) == 1
    assert quorum_for({"high": True}, RiskLevel.HIGH) == 1
    setting = {"high": ["U1", "S1"], "critical": ["U9", "U1"]}
    assert widened(setting, RiskLevel.HIGH)["high"] == ["U1", "S1", "U9"]
    assert widened(setting, RiskLevel.CRITICAL) == setting, "nothing above critical"
    assert widened({"high": ["U1"]}, RiskLevel.MEDIUM) == {"high": ["U1"]}, "anyone-in-channel is never narrowed"


def test_escalation_steps_in_order_and_once() -> None:
    plan = timing({"high": {"after_s": 900}}, RiskLevel.HIGH)
    assert plan is not None and plan.widen_after_s == 900
    assert timing({"high": {"after_s": 900}}, RiskLevel.LOW) is None
    assert due_steps(plan, RiskLevel.HIGH, T0, frozenset(), T0 + timedelta(seconds=899)) == []
    assert due_steps(plan, RiskLevel.HIGH, T0, frozenset(), T0 + timedelta(seconds=900)) == [Step.REMINDED]
    assert due_steps(plan, RiskLevel.HIGH, T0, frozenset({"reminded"}), T0 + timedelta(seconds=1799)) == []
    late = T0 + timedelta(hours=1)
    assert due_steps(plan, RiskLevel.HIGH, T0, frozenset(), late) == [Step.REMINDED, Step.WIDENED]
    assert due_steps(plan, RiskLevel.CRITICAL, T0, frozenset(), late) == [Step.REMINDED], "no next level"
    assert mentions(["U1", "S2"]) == "<@U1> <!subteam^S2>"
    assert "Anyone in this channel" in reminder_text({}, RiskLevel.LOW, Step.REMINDED)


def test_similarity_prefers_the_same_values() -> None:
    asked = {"service": "checkout", "to": "v41", "opts": {"fast": True}}
    assert similarity(asked, asked) == 1.0
    assert similarity(asked, {"other": 1}) == 0.0
    assert similarity(asked, {"service": "checkout", "to": "v40", "opts": {"fast": True}}) > similarity(
        asked, {"service": "search", "to": "v40", "opts": {"fast": False}}
    )
    earlier = [
        Earlier(uuid.uuid4(), {"service": "checkout", "to": f"v{i}"}, "approved", None, T0 + timedelta(days=i))
        for i in range(5)
    ]
    top = most_similar({"service": "checkout", "to": "v9"}, earlier)
    assert [p.earlier.action_details["to"] for p in top] == ["v4", "v3", "v2"], "ties: the newer first"
    assert aftermath_text(None, None, None) == "no incident on the service within 7 days"
    assert aftermath_text(7, "high", 0.2) == "incident #7 (high) the same day"


def test_edit_modal_and_values() -> None:
    editable = {
        "type": "object",
        "properties": {"n": {"type": "integer", "maximum": 9}, "mode": {"enum": ["x", "y"]}, "on": {"type": "boolean"}},
    }
    modal = edit_modal("id-1", "t", editable, {"n": 3, "mode": "x", "on": True}, from_message=False)
    assert modal["private_metadata"] == "id-1|outside"
    elements = {b["block_id"]: b["element"] for b in modal["blocks"] if b["type"] == "input"}
    assert elements["edit:n"]["initial_value"] == "3" and elements["edit:n"]["max_value"] == "9"
    assert elements["edit:on"]["initial_option"]["value"] == "true"
    state = {
        "values": {
            "edit:n": {"value": {"value": "7"}},
            "edit:mode": {"value": {"selected_option": {"value": "y"}}},
        }
    }
    assert values_from(state, editable, {"n": 3, "mode": "x", "on": True}) == ({"n": 7, "mode": "y", "on": True}, {})
    bad = {"values": {"edit:n": {"value": {"value": "seven"}}}}
    assert values_from(bad, editable, {"n": 3})[1] == {"edit:n": "must be a whole number"}


def test_reject_options_and_votes_line() -> None:
    modal = reject_modal("id-1", "t", options=("smaller", "later"))
    assert modal["blocks"][1]["block_id"] == OPTION_BLOCK and modal["blocks"][2]["optional"] is True
    assert "optional" not in reject_modal("id-1", "t")["blocks"][1]
    chosen = {"values": {OPTION_BLOCK: {OPTION_INPUT: {"selected_option": {"value": "1"}}}}}
    assert option_from(chosen, ("smaller", "later")) == "later"
    assert option_from({"values": {OPTION_BLOCK: {OPTION_INPUT: {"selected_option": {"value": "5"}}}}}, ("a",)) is None
    assert votes_block(Shown(quorum=1)) is None
    block = votes_block(Shown(approvers_voted=("U1",), quorum=2))
    assert block is not None and "*1 of 2*" in block["elements"][0]["text"] and "<@U1>" in block["elements"][0]["text"]


def test_text_inputs_stay_within_slacks_limit() -> None:
    editable = {
        "type": "object",
        "properties": {"note": {"type": "string", "maxLength": 10**6}, "tag": {"type": "string"}},
    }
    modal = edit_modal("id-1", "t", editable, {"note": "hi", "tag": "x"}, from_message=True)
    limits = [b["element"]["max_length"] for b in modal["blocks"] if b["type"] == "input"]
    assert limits == [3000, 3000]
