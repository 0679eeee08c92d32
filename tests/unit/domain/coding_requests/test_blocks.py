"""Block Kit for coding requests: the modal round-trips through a submission; answers and App Home."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from domain.coding_requests import blocks as views
from domain.coding_requests.rules import CodingRequest, Priority, RequestType, SlackOrigin
from tests.factories import pending_approval

ORIGIN = SlackOrigin("command", "trigger-1")


def submitted(view: dict[str, Any], **values: str) -> dict[str, Any]:
    """The view as Slack sends it back on submit, with ``values`` typed into the inputs."""
    state: dict[str, Any] = {}
    for block in view["blocks"]:
        element = block["element"]
        value = values.get(block["block_id"])
        if element["type"] == "static_select":
            chosen = {"value": value} if value else element.get("initial_option")
            state[block["block_id"]] = {"value": {"type": "static_select", "selected_option": chosen}}
        else:
            state[block["block_id"]] = {
                "value": {"type": "plain_text_input", "value": value or element.get("initial_value")}
            }
    return {**view, "state": {"values": state}}


def request(**overrides: Any) -> CodingRequest:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    base: dict[str, Any] = {f: None for f in CodingRequest.__dataclass_fields__}
    base.update(
        id=uuid.uuid4(),
        request_number=5,
        source="slack",
        source_id="command:t",
        title="Fix the login",
        request_type="bug",
        priority="high",
        status="in_review",
        created_at=now,
        updated_at=now,
        pr_number=9,
        pr_url="https://github.com/o/r/pull/9",
        pr_status="open",
    )
    base.update(overrides)
    return CodingRequest(**base)


def test_modal_prefills_and_parses_back() -> None:
    view = views.modal(ORIGIN, title="Add dark mode", description="please")
    assert view["callback_id"] == "coding_request_modal"
    assert json.loads(view["private_metadata"]) == {"origin": "command:trigger-1"}
    draft = views.parse_submission(submitted(view, request_type="bug", priority="urgent"))
    assert isinstance(draft, views.Draft)
    assert (draft.title, draft.description, draft.request_type, draft.priority, draft.origin) == (
        "Add dark mode",
        "please",
        RequestType.BUG,
        Priority.URGENT,
        ORIGIN,
    )


def test_modal_without_text_has_no_initial_values_and_defaults_the_selects() -> None:
    view = views.modal(ORIGIN)
    assert "initial_value" not in view["blocks"][0]["element"]
    draft = views.parse_submission(submitted(view, title="A real title"))
    assert isinstance(draft, views.Draft)
    assert (draft.request_type, draft.priority, draft.description) == (RequestType.FEATURE, Priority.MEDIUM, None)


def test_validation_errors_name_the_blocks() -> None:
    view = views.modal(ORIGIN)
    assert views.parse_submission(submitted(view, title="  x ")) == {
        "title": "Give the request a title of at least 3 characters."
    }
    errors = views.parse_submission(submitted(view, title="Fine title", request_type="epic", priority="asap"))
    assert set(errors) == {"request_type", "priority"}
    expired = views.parse_submission({**submitted(view, title="Fine title"), "private_metadata": "garbage"})
    assert set(expired) == {"title"}


def test_command_text() -> None:
    assert views.parse_command("") == views.Command("open", title="")
    assert views.parse_command("  Add dark mode ") == views.Command("open", title="Add dark mode")
    assert views.parse_command("status 12") == views.Command("status", number=12)
    assert views.parse_command("STATUS #12") == views.Command("status", number=12)
    assert views.parse_command("status") == views.Command("help")
    assert views.parse_command("mine") == views.Command("mine")
    assert views.parse_command("status report for Q3") == views.Command("open", title="status report for Q3")


def test_status_and_mine_answers() -> None:
    answer = views.status_answer(5, request())
    assert "#5" in answer["text"] and "<https://github.com/o/r/pull/9|PR #9>" in answer["text"]
    assert views.status_answer(6, None) == {"text": "There is no coding request #6."}
    assert views.mine_answer([]) == {"text": "You have no open coding requests."}
    assert "Fix the login" in views.mine_answer([request()])["text"]


def test_home_lists_open_requests_and_approval_buttons() -> None:
    approval = pending_approval(
        id=uuid.UUID(int=1), action_type="restart_service", action_details={"summary": "restart api"}, risk_level="high"
    )
    home = views.home_view([request(), request(request_number=6, status="completed")], [approval])
    text = json.dumps(home)
    assert home["type"] == "home" and "#5" in text and "#6" not in text
    buttons = next(b for b in home["blocks"] if b["type"] == "actions")["elements"]
    value = str(uuid.UUID(int=1))
    assert [(b["action_id"], b["value"]) for b in buttons] == [("approval_approve", value), ("approval_reject", value)]
    assert all("confirm" in b for b in buttons), "high risk: the same confirmation dialog as in the channel"
    assert "restart api" in text
    empty = json.dumps(views.home_view([], []))
    assert "No open coding requests" in empty and "Nothing to decide" in empty
