"""Deciding approvals from the console: the same domain decision as Slack (one decision whoever clicks
first), the same approver policy, the Slack message updated and the waiting agent resumed."""

from __future__ import annotations

import asyncio
from typing import Any

from domain.approvals.blocks import ActionId
from domain.approvals.policy import RiskLevel
from tests.console.conftest import CHANNEL, Console, eventually

EVENTS = "SELECT * FROM agent_events WHERE correlation_id = $1"


async def test_approve_from_the_console_updates_slack_and_resumes_the_agent(console: Console) -> None:
    approval = await console.approval()
    await console.deliver()  # the request's Slack message is posted
    (posted,) = console.slack.called("chat.postMessage")
    page = await console.signed_in("U0APPROVER")
    await page.goto(f"{console.base}/console/approvals")
    await page.locator(f"#approval-{approval.id}").get_by_role("button", name="Approve").click()
    await page.wait_for_url(f"{console.base}/console/approvals?done=approved")
    assert "U0APPROVER" in await page.locator("#h-history + table").inner_text()

    (event,) = await console.pool.fetch(EVENTS, approval.id)
    assert event["event_type"] == "deploy.rollback.decided" and event["target_agent_ids"] == ["deploy-agent"]
    assert event["payload"]["decision"] == "approved" and "decided_by" not in event["payload"]  # ids only on the bus
    decided = await console.pool.fetchrow(
        "SELECT status, resolved_by FROM approval_requests WHERE id = $1", approval.id
    )
    assert (decided["status"], decided["resolved_by"]) == ("approved", "U0APPROVER")
    await console.deliver()  # what the outbox worker does: update the Slack message, reply in its thread
    (update,) = console.slack.called("chat.update")
    assert update.args["channel"] == CHANNEL and update.args["ts"] == posted.args.get("ts", update.args["ts"])
    assert "U0APPROVER" in str(update.args)
    audit = await console.pool.fetchrow("SELECT * FROM agent_actions WHERE action_type = 'console.approval.approved'")
    assert audit["input_context"]["slack_user_id"] == "U0APPROVER" and audit["success"]


async def test_a_slack_click_and_a_console_click_racing_give_one_decision(console: Console) -> None:
    for n in range(3):
        # A request of its own each time: when the console's Reject won the last race, an identical request
        # would be rejected at once by rejection memory, and the page would show it no form.
        approval = await console.approval(to=f"v4{n}")
        page = await console.signed_in("U0CONSOLE")
        await page.goto(f"{console.base}/console/approvals")
        reason = page.locator(f"#approval-{approval.id}").get_by_label("Reason")
        told_before = await console.pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'slack.approval.ephemeral'")
        await reason.fill("not during the sale")
        async with page.expect_response(lambda r: r.url.endswith("/decide")) as console_answer:
            await asyncio.gather(
                reason.press("Enter"),  # submits the Reject form
                console.slack_click(ActionId.APPROVE.value, str(approval.id), user="U0SLACK"),
            )
        assert (await console_answer.value).status in (303, 409)

        async def settled(a: Any = approval) -> tuple[Any, int]:
            row = await console.pool.fetchrow("SELECT status, resolved_by FROM approval_requests WHERE id = $1", a.id)
            told = await console.pool.fetchval(
                "SELECT count(*) FROM outbox WHERE kind = 'slack.approval.ephemeral' AND payload->>'user' = 'U0SLACK'"
            )
            return row, told

        # Both sides are done: the console answered; the Slack listener either won or told its clicker.
        before = told_before
        row, _ = await eventually(settled, lambda s, b=before: s[0]["resolved_by"] == "U0SLACK" or s[1] > b)
        assert (row["status"], row["resolved_by"]) in {("approved", "U0SLACK"), ("rejected", "U0CONSOLE")}
        assert len(await console.pool.fetch(EVENTS, approval.id)) == 1
        decided = await console.pool.fetchval(
            "SELECT count(*) FROM agent_actions"
            " WHERE action_type LIKE 'approval.%' AND input_context->>'approval_id' = $1",
            str(approval.id),
        )
        assert decided == 1


async def test_a_non_approver_sees_no_buttons_and_a_forged_post_is_refused(console: Console) -> None:
    await console.pool.execute(
        "UPDATE agent_swarm_config SET config_value = $1 WHERE config_key = 'approvals.approvers'",
        {"high": ["U0BOSS"]},
    )
    approval = await console.approval(RiskLevel.HIGH)
    page = await console.signed_in("U0INTERN")
    await page.goto(f"{console.base}/console/approvals")
    card = page.locator(f"#approval-{approval.id}")
    assert "not an approver for high risk" in await card.inner_text()
    assert await card.get_by_role("button").count() == 0
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    forged = await page.request.post(
        f"{console.base}/console/approvals/{approval.id}/decide", form={"csrf": csrf or "", "decision": "approve"}
    )
    assert forged.status == 403
    assert await console.pool.fetchval("SELECT status FROM approval_requests WHERE id = $1", approval.id) == "pending"
    boss = await console.signed_in("U0BOSS")
    await boss.goto(f"{console.base}/console/approvals")
    assert await boss.locator(f"#approval-{approval.id}").get_by_role("button", name="Approve").count() == 1
