"""Settings in the console: editing is for console.admins, validated by the setting's JSON Schema (the
validator's message beside the field), audited with the person's Slack id."""

from __future__ import annotations

from tests.console.conftest import Console


async def test_a_settings_edit_is_refused_with_the_schemas_message(console: Console) -> None:
    page = await console.signed_in()
    await page.goto(f"{console.base}/console/settings")
    section = page.locator("#setting-approvals\\.approvers")
    field = section.get_by_label("Value (JSON)")
    await field.fill('{"high": ["not-a-slack-id"]}')
    await section.get_by_role("button", name="Save approvals.approvers").click()
    error = page.locator("#setting-approvals\\.approvers [role=alert]")
    assert "does not match" in await error.inner_text()
    assert "value_schema" in await error.inner_text()
    assert await page.locator("#setting-approvals\\.approvers textarea").get_attribute("aria-invalid") == "true"
    assert (
        await console.pool.fetchval(
            "SELECT config_value FROM agent_swarm_config WHERE config_key = 'approvals.approvers'"
        )
        == {}
    )

    await page.locator("#setting-approvals\\.approvers textarea").fill('{"high": ["U0BOSS"]}')
    await page.locator("#setting-approvals\\.approvers").get_by_role("button", name="Save approvals.approvers").click()
    await page.wait_for_url(f"{console.base}/console/settings?done=saved#setting-approvals.approvers")
    row = await console.pool.fetchrow(
        "SELECT config_value, updated_by FROM agent_swarm_config WHERE config_key = 'approvals.approvers'"
    )
    assert (row["config_value"], row["updated_by"]) == ({"high": ["U0BOSS"]}, "local-admin")
    audit = await console.pool.fetchrow(
        "SELECT input_context FROM agent_actions WHERE action_type = 'console.setting.put'"
    )
    assert audit["input_context"]["slack_user_id"] == "local-admin"


async def test_only_console_admins_edit_settings(console: Console) -> None:
    await console.pool.execute("DELETE FROM console_sessions")
    viewer = await console.signed_in("U0VIEWER")
    await console.pool.execute("UPDATE console_sessions SET local_admin = false")  # a Slack sign-in, not a link
    await viewer.goto(f"{console.base}/console/settings")
    assert "Read only" in await viewer.inner_text("main")
    assert await viewer.get_by_role("button", name="Save console.admins").count() == 0
    csrf = await viewer.locator("input[name=csrf]").first.get_attribute("value")
    forged = await viewer.request.post(
        f"{console.base}/console/settings/console.admins", form={"csrf": csrf or "", "value": '["U0VIEWER"]'}
    )
    assert forged.status == 403
    await console.pool.execute(
        "UPDATE agent_swarm_config SET config_value = '[\"U0VIEWER\"]' WHERE config_key = 'console.admins'"
    )
    await viewer.goto(f"{console.base}/console/settings")
    assert await viewer.get_by_role("button", name="Save console.admins").count() == 1
