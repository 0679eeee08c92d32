"""Live pages: a signed Sentry delivery shows on the overview without a reload; a failed delivery is
replayed; an outbox row is retried now; every page renders under the strict CSP (screenshots kept)."""

from __future__ import annotations

import json
from decimal import Decimal

from playwright.async_api import ConsoleMessage

from domain.ledger import costs
from tests.console.conftest import Console, shot
from tests.integration.webhooks.conftest import fixture_bytes

TITLE = json.loads(fixture_bytes("sentry", "issue.created"))["data"]["issue"]["title"]


async def test_a_signed_sentry_delivery_appears_on_the_overview_without_a_reload(console: Console) -> None:
    page = await console.signed_in()
    await page.evaluate("window.loadedOnce = true")
    assert await page.get_by_text(TITLE).count() == 0
    response = await console.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")
    assert response.status == 200, await response.text()
    await page.get_by_text(TITLE).first.wait_for(timeout=15_000)
    assert await page.evaluate("window.loadedOnce === true"), "the page was reloaded"


async def test_replay_a_failed_delivery_from_the_deliveries_page(console: Console) -> None:
    # A recorded delivery whose processing failed: stored as the inbox stores it, left failed with its error.
    row_id = await console.pool.fetchval(
        """INSERT INTO webhook_deliveries (source, delivery_id, event_type, action, body, status, attempts, last_error,
                                          next_attempt_at)
           VALUES ('sentry', 'replay-me', 'issue', 'created', $1, 'failed', 1, 'ConnectionError: linear down',
                   now() + interval '1 hour') RETURNING id""",
        fixture_bytes("sentry", "issue.created"),
    )
    page = await console.signed_in()
    await page.goto(f"{console.base}/console/deliveries")
    row = page.locator(f"#delivery-{row_id}")
    assert "ConnectionError: linear down" in await row.inner_text()
    await row.get_by_role("button", name="Replay").click()
    await page.wait_for_url(f"{console.base}/console/deliveries?done=replayed")
    assert await page.locator(f"#delivery-{row_id}").count() == 0
    assert await console.pool.fetchval("SELECT status FROM webhook_deliveries WHERE id = $1", row_id) == "processed"
    assert await console.pool.fetchval("SELECT count(*) FROM infrastructure_incidents") == 1
    audit = await console.pool.fetchrow("SELECT * FROM agent_actions WHERE action_type = 'console.delivery.replay'")
    assert audit["input_context"]["slack_user_id"] == "local-admin"


async def test_retry_now_makes_a_dead_outbox_row_due(console: Console) -> None:
    row_id = await console.pool.fetchval(
        """INSERT INTO outbox (kind, payload, status, attempts, last_error, next_attempt_at)
           VALUES ('nobody.handles.this', '{}', 'dead', 12, 'boom', now() + interval '1 day') RETURNING id"""
    )
    page = await console.signed_in()
    await page.goto(f"{console.base}/console/deliveries")
    await page.locator(f"#outbox-{row_id}").get_by_role("button", name="Retry now").click()
    await page.wait_for_url(f"{console.base}/console/deliveries?done=retried")
    row = await console.pool.fetchrow(
        "SELECT status, attempts, next_attempt_at <= now() AS due FROM outbox WHERE id = $1", row_id
    )
    assert (row["status"], row["attempts"], row["due"]) == ("pending", 0, True)


async def test_every_page_renders_under_the_strict_csp(console: Console) -> None:
    await console.send.sentry(fixture_bytes("sentry", "issue.created"), "issue")
    await console.approval()
    async with console.pool.acquire() as conn, conn.transaction():
        await costs.record(conn, "triage-agent", "llm", Decimal("1.25"))
        await costs.record(conn, "deploy-agent", "llm", Decimal("0.40"))
    await console.pool.execute(
        """INSERT INTO agent_metrics (bucket_start, bucket_end, agent_name, actions_total, actions_successful,
                                      actions_failed, p95_execution_time_ms, mttr_ms)
           SELECT h, h + interval '1 hour', a,
                  10 + (extract(hour FROM h))::int % 7 + CASE a WHEN 'deploy-agent' THEN 6 ELSE 0 END, 9, 1,
                  800 + 10 * i + CASE a WHEN 'deploy-agent' THEN 300 ELSE 0 END, 600000
           FROM generate_series(date_trunc('hour', now()) - interval '23 hours', date_trunc('hour', now()),
                                interval '1 hour') WITH ORDINALITY AS g(h, i),
                unnest(ARRAY['triage-agent', 'deploy-agent']) AS a"""
    )
    page = await console.signed_in()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if _csp(m) else None)
    incident = await console.pool.fetchval("SELECT id FROM infrastructure_incidents")
    for name, path in [
        ("overview", "/console"),
        ("incidents", "/console/incidents"),
        ("incident", f"/console/incidents/{incident}"),
        ("approvals", "/console/approvals"),
        ("coding-requests", "/console/coding-requests"),
        ("agents", "/console/agents"),
        ("deliveries", "/console/deliveries"),
        ("settings", "/console/settings"),
    ]:
        response = await page.goto(console.base + path)
        assert response is not None and response.status == 200, path
        assert response.headers["content-security-policy"].startswith("default-src 'self'")
        await shot(page, name)
    assert await page.evaluate("typeof htmx") == "object"
    assert violations == []


def _csp(message: ConsoleMessage) -> bool:
    return "Content Security Policy" in message.text or "Refused to" in message.text


async def test_incident_pages_walk_every_row_once_with_filters(console: Console) -> None:
    await console.pool.execute(
        """INSERT INTO infrastructure_incidents (severity, incident_type, source, title, affected_services, created_at)
           SELECT CASE WHEN n % 2 = 0 THEN 'high' ELSE 'low' END, 'error', 'sentry', 'incident ' || n,
                  ARRAY['checkout'], now() - (n / 10) * interval '1 minute'
           FROM generate_series(1, 230) AS n"""
    )
    page = await console.signed_in()
    await page.goto(f"{console.base}/console/incidents?severity=high&service=checkout")
    seen: list[str] = []
    while True:
        seen += await page.locator("#live tbody td:first-child").all_inner_texts()
        older = page.get_by_role("link", name="Older incidents")
        if await older.count() == 0:
            break
        await older.click()
        await page.wait_for_load_state()
    assert len(seen) == len(set(seen)) == 115
