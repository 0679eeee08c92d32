from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from domain.approvals.blocks import (
    MAX_BLOCKS,
    ActionId,
    CallbackId,
    decided_message,
    details_blocks,
    reason_from,
    reject_modal,
    request_message,
    thread_reply,
)
from tests.factories import NOW, pending_approval

APPROVAL = pending_approval(action_details={"service": "checkout", "note": "<!channel> & <@U1>"})


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


def _within_limits(blocks: list[dict[str, Any]]) -> None:
    assert len(blocks) <= MAX_BLOCKS
    for block in blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
    for node in _walk(blocks):
        if node.get("type") == "plain_text":
            assert len(node["text"]) <= 150
        if node.get("type") == "button":
            assert len(node["value"]) <= 2000


def test_request_message_has_the_buttons_and_escapes_user_text() -> None:
    message = request_message(APPROVAL)
    blocks = message["blocks"]
    _within_limits(blocks)
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        (ActionId.APPROVE, str(APPROVAL.id)),
        (ActionId.REJECT, str(APPROVAL.id)),
    ]
    assert all("confirm" not in b for b in buttons)
    text = json.dumps(blocks)
    assert "&lt;!channel&gt; &amp; &lt;@U1&gt;" in text and "<!channel>" not in text
    assert f"<!date^{int(APPROVAL.expires_at.timestamp())}^" in text
    assert "deploy-agent" in message["text"]


def test_high_and_critical_ask_for_confirmation() -> None:
    for risk in ("high", "critical"):
        blocks = request_message(replace(APPROVAL, risk_level=risk))["blocks"]
        buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
        assert all(len(b["confirm"]["confirm"]["text"]) <= 30 for b in buttons)
        assert all(len(b["confirm"]["title"]["text"]) <= 100 for b in buttons)


def test_any_size_of_details_fits() -> None:
    for details in (
        {},
        {"k": "v" * 2990},
        {f"k{i}": "&" * 997 for i in range(200)},
        {"lines": ["line " * 30] * 5000},
        {"one_long_line": "y" * 200_000},
    ):
        approval = replace(APPROVAL, action_details=details, action_type="t" * 100, agent_name="a" * 100)
        _within_limits(request_message(approval)["blocks"])
        closed = replace(approval, status="rejected", resolved_by="U1", resolved_at=NOW, rejection_reason="r" * 3000)
        _within_limits(decided_message(closed)["blocks"])


def test_detail_chunks_never_split_an_escape() -> None:
    for block in details_blocks({"k": "&" * 5000}):
        if block["type"] == "section":
            body = block["text"]["text"].strip("`\n")
            assert body.replace("&amp;", "").count("&") == 0


def test_decided_message_replaces_buttons_with_the_outcome() -> None:
    closed = replace(APPROVAL, status="approved", resolved_by="U0LEAD", resolved_at=NOW)
    blocks = decided_message(closed)["blocks"]
    assert not [b for b in blocks if b["type"] == "actions"]
    text = json.dumps(blocks)
    assert "Approved" in text and "<@U0LEAD>" in text
    assert "<@U0LEAD>" in thread_reply(closed)
    cancelled = replace(APPROVAL, status="cancelled", resolved_by="api:agent", resolved_at=NOW)
    assert "<@api" not in json.dumps(decided_message(cancelled)) and "Withdrawn" in thread_reply(cancelled)
    assert request_message(cancelled) == decided_message(cancelled), "posted late, it shows the outcome"


def test_reject_modal_round_trip() -> None:
    modal = reject_modal(str(APPROVAL.id), "x" * 100)
    assert modal["callback_id"] == CallbackId.REJECT_REASON and modal["private_metadata"] == str(APPROVAL.id)
    assert len(modal["title"]["text"]) <= 24
    (block_id,) = [b["block_id"] for b in modal["blocks"] if b["type"] == "input"]
    (action_id,) = [b["element"]["action_id"] for b in modal["blocks"] if b["type"] == "input"]
    state = {"values": {block_id: {action_id: {"type": "plain_text_input", "value": "because"}}}}
    assert reason_from(state) == "because" and reason_from({}) is None


def test_an_unknown_risk_level_is_treated_as_critical() -> None:
    odd = replace(APPROVAL, risk_level="urgent")
    assert odd.risk.value == "critical"
    buttons = [e for b in request_message(odd)["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert all("confirm" in b for b in buttons)
