"""Acting on an incident from its announcement: signed clicks and modal submissions against the real app,
the same guarded transitions as the API, the announcement edited in place, the audit trail."""

from __future__ import annotations

import asyncio

from domain.incidents.messages import ActionId, Field
from tests.integration.slack.incidents.world import BUTTONS, Incidents, elements, eventually, submission_payload
from tests.integration.webhooks.conftest import INCIDENTS_CHANNEL

ALICE, BOB = "U0ALICE", "U0BOB"


async def test_acknowledge_edits_the_announcement_in_place_and_is_audited(incidents: Incidents) -> None:
    incident = await incidents.open_sentry()
    posted = incidents.announcement(incident)
    assert set(elements(posted.blocks)) == BUTTONS
    assert elements(posted.blocks)[ActionId.ACKNOWLEDGE]["value"] == str(incident["id"])

    await incidents.click(ActionId.ACKNOWLEDGE, str(incident["id"]), ALICE)
    row = await eventually(incidents.row, lambda r: r["status"] == "acknowledged")
    assert row["error_details"]["owner"] == ALICE
    assert await incidents.pool.fetchval("SELECT acknowledged_at IS NOT NULL FROM fix_metrics")
    await incidents.world.drain()

    edited = incidents.announcement(row)
    assert len(edited.edits) == 1, "one chat.update on the announcement itself, no new message"
    assert ActionId.ACKNOWLEDGE not in elements(edited.blocks)
    assert {ActionId.MITIGATE, ActionId.RESOLVE, ActionId.ESCALATE} <= set(elements(edited.blocks))
    shown = str(edited.blocks)
    assert "acknowledged" in shown and f"<@{ALICE}>" in shown and "open for" in shown
    [reply] = incidents.replies(row)
    assert "acknowledged" in reply.text and f"<@{ALICE}>" in reply.text
    [audit] = await eventually(incidents.audit, lambda rows: len(rows) == 1)
    assert audit["action_type"] == "incident.acknowledge" and audit["success"] is True
    assert audit["input_context"]["slack_user"] == ALICE and audit["incident_id"] == incident["id"]


async def test_resolve_opens_a_modal_whose_steps_and_summary_are_stored(incidents: Incidents) -> None:
    incident = await incidents.open_sentry()
    await incidents.click(ActionId.MITIGATE, str(incident["id"]), ALICE)
    await eventually(incidents.row, lambda r: r["status"] == "mitigating")
    await incidents.click(ActionId.RESOLVE, str(incident["id"]), BOB)
    [opened] = await incidents.world.slack.wait_for("views.open")
    view = opened.args["view"]
    assert view["callback_id"] == "incident_resolve_modal"

    empty = await incidents.interact(submission_payload(view, BOB, **{Field.STEPS: "x", Field.SUMMARY: ""}))
    assert (await empty.json())["errors"][Field.SUMMARY]
    assert (await incidents.row())["status"] == "mitigating"

    submitted = submission_payload(
        view, BOB, **{Field.STEPS: "- rolled back release 42\n\n- flushed the cache", Field.SUMMARY: "bad deploy"}
    )
    response = await incidents.interact(submitted)
    assert await response.text() == ""
    row = await incidents.row()
    assert row["status"] == "resolved" and row["resolved_by"] == BOB
    assert row["resolution_steps"] == ["rolled back release 42", "flushed the cache"]
    assert row["resolution_summary"] == "bad deploy" and row["time_to_resolve_ms"] is not None
    await incidents.world.drain()
    edited = incidents.announcement(row)
    assert not elements(edited.blocks), "a resolved incident shows no buttons"
    assert "bad deploy" in str(edited.blocks) and f"<@{BOB}>" in str(edited.blocks)

    again = await incidents.interact(submitted)  # the modal submitted twice: refused in the modal
    assert "already resolved" in str((await again.json())["errors"])
    audits = await incidents.audit()
    assert [(a["action_type"], a["success"]) for a in audits] == [
        ("incident.mitigate", True),
        ("incident.resolve", True),
        ("incident.resolve", False),
    ]


async def test_an_acknowledge_racing_a_sentry_resolve_never_reopens(incidents: Incidents) -> None:
    incident = await incidents.open_sentry()
    _, webhook = await asyncio.gather(
        incidents.click(ActionId.ACKNOWLEDGE, str(incident["id"]), ALICE), incidents.resolve_in_sentry()
    )
    assert webhook.status == 200
    await eventually(incidents.audit, lambda rows: len(rows) == 1)
    row = await incidents.row()
    assert row["status"] == "resolved" and row["resolved_by"] != ALICE

    for action in (ActionId.ACKNOWLEDGE, ActionId.MITIGATE, ActionId.ACKNOWLEDGE):  # late and repeated clicks
        await incidents.click(action, str(incident["id"]), BOB)
    audits = await eventually(incidents.audit, lambda rows: len(rows) == 4)
    assert [a["success"] for a in audits[1:]] == [False, False, False]
    after = await incidents.row()
    assert (after["status"], after["resolved_at"], after["resolved_by"]) == (
        "resolved",
        row["resolved_at"],
        row["resolved_by"],
    )
    notes = await incidents.pool.fetch("SELECT payload FROM outbox WHERE kind = 'incident.ephemeral' ORDER BY id")
    assert [n["payload"]["user"] for n in notes][-3:] == [BOB, BOB, BOB]
    assert "resolved" in notes[-1]["payload"]["text"] and notes[-1]["payload"]["channel"] == INCIDENTS_CHANNEL
    await incidents.world.drain()
    assert not elements(incidents.announcement(after).blocks)
