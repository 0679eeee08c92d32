"""The ack time of each new interaction (Edit and approve, its modal, the reject modal with options)
against GET /healthz in the same run. Printed (``pytest -s``); only Slack's 3 s limit is asserted."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from domain.approvals.blocks import OPTION_BLOCK, OPTION_INPUT, ActionId
from tests.integration.approvals.conftest import Harness, click_payload, submission_payload
from tests.integration.approvals.test_edit_and_reject_options import DETAILS, EDITABLE, OPTIONS, edit_submission

ROUNDS = 25
SLACK_ACK_LIMIT_S = 3.0


async def _timed(call: Callable[[], Awaitable[Any]]) -> list[float]:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = await call()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, await response.text()
    return times


async def test_ack_time_of_the_new_interactions_against_healthz(harness: Harness) -> None:
    edit_id = (await harness.create(action_details=DETAILS, editable=EDITABLE, action_type="edit_me"))["id"]
    reject_id = (await harness.create(reject_options=OPTIONS, action_type="reject_me"))["id"]
    await harness.deliver()
    invalid_edit = edit_submission(edit_id, {"batch_size": "5000"})  # refused: the request stays open
    empty_reject = submission_payload(reject_id, " ")
    chosen = submission_payload(reject_id, "", user="U0LEAD")
    chosen["view"]["state"]["values"][OPTION_BLOCK] = {OPTION_INPUT: {"selected_option": {"value": "0"}}}

    measured = {
        "GET /healthz": await _timed(lambda: harness.client.get("/healthz")),
        "Edit and approve (button)": await _timed(
            lambda: harness.interact(click_payload(ActionId.EDIT, edit_id, user="U0LEAD"))
        ),
        "edit modal submit (errors)": await _timed(lambda: harness.interact(invalid_edit)),
        "reject modal submit (errors)": await _timed(lambda: harness.interact(empty_reject)),
        "reject modal submit (option)": await _timed(lambda: harness.interact(chosen)),
        "Approve (existing, for scale)": await _timed(
            lambda: harness.interact(click_payload(ActionId.APPROVE, reject_id, user="U0LEAD"))
        ),
    }
    base = statistics.median(measured["GET /healthz"])
    print(f"\nack times over {ROUNDS} rounds each (ms): median, p95, ratio of medians to /healthz")
    for name, times in measured.items():
        p95 = sorted(times)[int(0.95 * (len(times) - 1))]
        print(f"  {name:32s} {statistics.median(times):7.2f} {p95:7.2f}  x{statistics.median(times) / base:5.1f}")
        assert max(times) < SLACK_ACK_LIMIT_S * 1000, f"{name} acked after Slack's limit"
