"""Edit before approve (a modal built from the request's schema) and structured reject options."""

from __future__ import annotations

import copy
import json
from typing import Any

from domain.approvals.blocks import OPTION_BLOCK, OPTION_INPUT, ActionId, CallbackId
from tests.integration.approvals.conftest import SERVICE, SUBMISSION, Harness, submission_payload

EDITABLE = {
    "type": "object",
    "required": ["batch_size"],
    "properties": {
        "batch_size": {"type": "integer", "minimum": 1, "maximum": 500, "title": "Batch size"},
        "mode": {"enum": ["canary", "full"]},
        "dry_run": {"type": "boolean"},
    },
}
DETAILS = {"service": "checkout", "batch_size": 200, "mode": "full", "dry_run": False}
OPTIONS = ["Try a smaller batch", "Wait for the deploy freeze to end"]


def _view(call: Any) -> dict[str, Any]:
    view = call.args["view"]
    return view if isinstance(view, dict) else json.loads(view)


def edit_submission(approval_id: str, values: dict[str, Any], *, user: str = "W111") -> dict[str, Any]:
    payload = copy.deepcopy(SUBMISSION)
    payload["user"]["id"] = user
    payload["view"].update(callback_id=CallbackId.EDIT.value, private_metadata=approval_id)
    state: dict[str, Any] = {}
    for key, raw in values.items():
        if key in ("mode", "dry_run"):
            entry = {
                "type": "static_select",
                "selected_option": {"text": {"type": "plain_text", "text": raw}, "value": raw},
            }
        else:
            entry = {"type": "number_input", "value": raw}
        state[f"edit:{key}"] = {"value": entry}
    payload["view"]["state"] = {"values": state}
    return payload


async def test_edit_and_approve_carries_the_validated_values(harness: Harness) -> None:
    approval_id = (await harness.create(action_details=DETAILS, editable=EDITABLE))["id"]
    await harness.deliver()
    (post,) = harness.fake.called("chat.postMessage")
    actions = next(b for b in post.args["blocks"] if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [ActionId.APPROVE, ActionId.EDIT, ActionId.REJECT]

    await harness.click(ActionId.EDIT, approval_id, user="U0LEAD")
    (opened,) = await harness.fake.wait_for("views.open")
    view = _view(opened)
    assert view["callback_id"] == CallbackId.EDIT and view["private_metadata"] == approval_id
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["edit:batch_size"]["initial_value"] == "200" and inputs["edit:batch_size"]["max_value"] == "500"
    assert inputs["edit:mode"]["initial_option"]["value"] == "full"
    assert inputs["edit:dry_run"]["initial_option"]["value"] == "false"
    assert (await harness.get(approval_id))["status"] == "pending", "opening the modal decides nothing"

    response = await harness.interact(
        edit_submission(approval_id, {"batch_size": "50", "mode": "canary"}, user="U0LEAD")
    )
    assert response.status == 200
    row = await harness.get(approval_id, wait=10)
    assert row["status"] == "approved" and row["resolved_by"] == "U0LEAD"
    assert row["action_details"] == DETAILS, "the request as asked stays on the row"
    edited = {"batch_size": 50, "mode": "canary", "dry_run": False}
    stored = await harness.pool.fetchval(
        "SELECT edited_details FROM approval_request_extras WHERE approval_id = $1::uuid", approval_id
    )
    assert stored == edited
    payload = await harness.pool.fetchval("SELECT payload FROM agent_events")
    assert payload["edited_details"] == edited and payload["decision"] == "approved"


async def test_edited_values_that_do_not_fit_the_schema_keep_the_modal_open(harness: Harness) -> None:
    approval_id = (await harness.create(action_details=DETAILS, editable=EDITABLE))["id"]
    for values, field in (({"batch_size": "5000"}, "edit:batch_size"), ({"batch_size": "2.5"}, "edit:batch_size")):
        response = await harness.interact(edit_submission(approval_id, values))
        answer = await response.json()
        assert answer["response_action"] == "errors" and field in answer["errors"], answer
    forged = edit_submission(approval_id, {"mode": "everything"})
    answer = await (await harness.interact(forged)).json()
    assert answer["response_action"] == "errors" and "edit:mode" in answer["errors"]
    assert (await harness.get(approval_id))["status"] == "pending"
    assert await harness.pool.fetchval("SELECT count(*) FROM approval_votes") == 0


async def test_a_bad_editable_schema_is_refused_at_creation(harness: Harness) -> None:
    for editable in (
        {"type": "object", "properties": {"nope": {"type": "string"}}},
        {"type": "object", "properties": {"batch_size": {"type": "array"}}},
        {"type": "object", "properties": {"batch_size": {"type": "integer", "minimum": "one"}}},
        ["batch_size"],
    ):
        response = await harness.client.post(
            "/api/v1/approvals",
            json={
                "agent_name": "a",
                "action_type": "t",
                "action_details": DETAILS,
                "risk_level": "low",
                "editable": editable,
            },
            headers=SERVICE,
        )
        assert response.status == 400 and (await response.json())["field"] == "editable"
    response = await harness.client.post(
        "/api/v1/approvals",
        json={
            "agent_name": "a",
            "action_type": "t",
            "action_details": {},
            "risk_level": "low",
            "requested_by": "nobody",
        },
        headers=SERVICE,
    )
    assert response.status == 400 and (await response.json())["field"] == "requested_by"


async def test_reject_options_beside_free_text(harness: Harness) -> None:
    approval_id = (await harness.create(reject_options=OPTIONS))["id"]
    await harness.click(ActionId.REJECT, approval_id, user="U0REVIEWER")
    (opened,) = await harness.fake.wait_for("views.open")
    radio = next(b for b in _view(opened)["blocks"] if b.get("block_id") == OPTION_BLOCK)
    assert [o["text"]["text"] for o in radio["element"]["options"]] == OPTIONS

    payload = submission_payload(approval_id, "", user="U0REVIEWER")
    payload["view"]["state"]["values"][OPTION_BLOCK] = {
        OPTION_INPUT: {"type": "radio_buttons", "selected_option": {"value": "1"}}
    }
    assert (await harness.interact(payload)).status == 200
    row = await harness.get(approval_id, wait=10)
    assert row["status"] == "rejected" and row["rejection_reason"] == OPTIONS[1]
    event = await harness.pool.fetchval("SELECT payload FROM agent_events")
    assert event["decision"] == "rejected" and event["reject_option"] == OPTIONS[1]


async def test_no_option_and_no_reason_keeps_the_modal_open(harness: Harness) -> None:
    approval_id = (await harness.create(reject_options=OPTIONS))["id"]
    answer = await (await harness.interact(submission_payload(approval_id, " "))).json()
    assert answer["response_action"] == "errors"
    assert (await harness.get(approval_id))["status"] == "pending"
