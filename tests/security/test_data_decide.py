"""Defect 6: App Home does not widen who may decide.

With no approver list, anyone *in the request's channel* may decide low and medium risk. App Home is open
to every workspace member: it offers buttons only to listed approvers, shows the other requests with a
link to their message, and a click from App Home (no channel) by someone not listed is refused.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from domain.approvals.blocks import ActionId
from domain.approvals.policy import RiskLevel, judge
from domain.coding_requests.blocks import home_view, message_link
from tests.factories import pending_approval
from tests.fakes.slack import signed_headers
from tests.integration.approvals.conftest import CHANNEL, SECRET, Harness, click_payload, submission_payload
from tests.integration.approvals.conftest import harness as harness  # the fixture, re-exported
from tests.integration.coding_requests.test_app_home import home_opened

STRANGER = "U0STRANGER"
APPROVER = "U0LISTED"


def home_click(action_id: str, approval_id: str, user: str) -> dict[str, Any]:
    """The recorded block_actions payload as Slack sends it for a button in App Home: a view, no channel."""
    payload = click_payload(action_id, approval_id, user=user)
    for key in ("channel", "message"):
        payload.pop(key, None)
    payload["container"] = {"type": "view", "view_id": "V0HOME"}
    payload["view"] = {"id": "V0HOME", "type": "home", "blocks": [], "private_metadata": "", "callback_id": ""}
    return payload


async def _posted(harness: Harness, **overrides: Any) -> str:
    approval_id = (await harness.create(**overrides))["id"]
    await harness.deliver()
    return str(approval_id)


async def _home_view(harness: Harness, user: str) -> dict[str, Any]:
    before = len(harness.fake.called("views.publish"))
    body = home_opened(user)
    response = await harness.client.post(
        "/slack/events", data=body, headers={"Content-Type": "application/json", **signed_headers(body, SECRET)}
    )
    assert response.status == 200
    call = (await harness.fake.wait_for("views.publish", before + 1))[-1].args
    view: dict[str, Any] = call["view"] if isinstance(call["view"], dict) else json.loads(call["view"])
    return view


def _buttons(view: dict[str, Any]) -> list[str]:
    return [e["value"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def test_app_home_offers_buttons_only_to_listed_approvers(harness: Harness) -> None:
    await harness.pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'approvals.approvers'",
        {"high": [APPROVER]},
    )
    low = await _posted(harness)  # medium risk in REQUEST: no list, decided in the channel
    high = await _posted(harness, risk_level="high", agent_name="db-agent")
    row = await harness.pool.fetchrow(
        "SELECT slack_channel_id, slack_message_ts FROM approval_requests WHERE id = $1", low
    )

    stranger = await _home_view(harness, STRANGER)
    assert _buttons(stranger) == []
    text = json.dumps(stranger)
    permalink = f"https://example.slack.com/archives/{row['slack_channel_id']}/p"
    assert permalink in text and "its message in the channel" in text
    assert "checkout" not in text, "the details stay in the channel"
    assert "db-agent" not in text, "a listed level is shown only to its approvers"

    approver = await _home_view(harness, APPROVER)
    assert _buttons(approver) == [high, high]
    assert permalink in json.dumps(approver)


async def test_a_click_from_app_home_by_someone_not_listed_is_refused(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    approval_id = await _posted(harness)
    caplog.set_level(logging.INFO)
    await harness.interact(home_click(ActionId.APPROVE, approval_id, STRANGER))
    (note,) = await harness.ephemerals_queued()
    assert note["channel"] is None and note["user"] == STRANGER, "explained by DM: App Home has no channel"
    assert "decided in its channel" in note["text"]
    assert (await harness.get(approval_id))["status"] == "pending"
    refused = [r.fields for r in caplog.records if r.getMessage() == "slack.approvals.refused"]
    assert [(r["user"], r["in_channel"]) for r in refused] == [(STRANGER, False)]

    await harness.interact(home_click(ActionId.REJECT, approval_id, STRANGER))
    await harness.ephemerals_queued(2)
    assert harness.fake.called("views.open") == [], "no reason modal for someone who may not decide"
    # A reason modal opened from App Home stays an App Home decision when submitted.
    submitted = submission_payload(approval_id + "|outside", "nope", user=STRANGER)
    assert (await harness.interact(submitted)).status == 200
    await harness.ephemerals_queued(3)
    assert (await harness.get(approval_id))["status"] == "pending"

    # The same person on the request's message in its channel may decide it (no list: anyone there).
    await harness.click(ActionId.APPROVE, approval_id, user=STRANGER, channel=CHANNEL)
    decided = await harness.get(approval_id, wait=10)
    assert (decided["status"], decided["resolved_by"]) == ("approved", STRANGER)


async def test_a_listed_approver_decides_from_app_home(harness: Harness) -> None:
    await harness.pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'approvals.approvers'",
        {"medium": [APPROVER]},
    )
    approval_id = await _posted(harness)
    await harness.interact(home_click(ActionId.APPROVE, approval_id, APPROVER))
    decided = await harness.get(approval_id, wait=10)
    assert (decided["status"], decided["resolved_by"]) == ("approved", APPROVER)


def test_the_open_levels_hold_only_in_the_channel() -> None:
    for risk in (RiskLevel.LOW, RiskLevel.MEDIUM):
        assert judge({}, risk, STRANGER).allowed
        assert not judge({}, risk, STRANGER, in_channel=False).allowed
        assert judge({risk.value: [STRANGER]}, risk, STRANGER, in_channel=False).allowed
    assert not judge({}, RiskLevel.HIGH, STRANGER).allowed


def test_home_view_links_without_buttons_or_details() -> None:
    approval = pending_approval(risk_level="low", action_details={"summary": "secret plan"})
    view = home_view([], [], [(approval, message_link("C0OPS", "1700000000.000100")), (approval, None)])
    text = json.dumps(view)
    assert not [b for b in view["blocks"] if b["type"] == "actions"] and "secret plan" not in text
    assert "<https://slack.com/archives/C0OPS/p1700000000000100|its message in the channel>" in text
    assert "not posted yet" in text and "Nothing to decide" not in text
