"""An Approve click over HTTP is answered at once, past Bolt; the decision that follows is drained at shutdown."""

from __future__ import annotations

import time
import uuid

from domain.approvals.blocks import ActionId
from handlers.slack.bolt import FAST_TASKS
from tests.integration.approvals.conftest import Harness


async def test_the_ack_goes_before_a_slow_group_lookup_and_shutdown_waits_for_the_decision(harness: Harness) -> None:
    await harness.pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'approvals.approvers'",
        {"medium": ["S0SLOW"]},
    )
    approval_id = (await harness.create())["id"]
    harness.fake.usergroups["S0SLOW"] = ["W111"]
    harness.fake.delay_s = 1.0  # every Slack call, the group lookup among them
    started = time.perf_counter()
    response = await harness.click(ActionId.APPROVE, approval_id)
    assert time.perf_counter() - started < 0.9, "the ack does not wait for Slack"
    assert await response.read() == b""
    assert harness.client.app[FAST_TASKS], "the decision is still at work after the ack"
    await harness.client.close()  # the app's shutdown drains it
    status = await harness.pool.fetchval("SELECT status FROM approval_requests WHERE id = $1", uuid.UUID(approval_id))
    assert status == "approved"
