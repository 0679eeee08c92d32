"""Signing in (Slack OpenID Connect through the fake, and the one-time link), the session cookie, CSRF
refusals and signing out, in a real browser."""

from __future__ import annotations

import time

from handlers.console import sessions
from tests.console.conftest import Console, shot


async def test_sign_in_with_slack_through_the_oidc_fake(console: Console) -> None:
    page = await console.page()
    await page.goto(f"{console.base}/console/incidents")
    assert page.url == f"{console.base}/console/login"
    await shot(page, "login")
    await page.get_by_role("link", name="Sign in with Slack").click()
    await page.wait_for_url(f"{console.base}/console")
    await page.get_by_role("button", name="Sign out").wait_for()
    assert "Ada Lovelace" in await page.locator("header").inner_text()
    assert [c.method for c in console.slack.calls if c.method.startswith(("openid", "auth"))] == [
        "openid.connect.token",
        "openid.connect.userInfo",
        "auth.test",
    ]
    (cookie,) = [c for c in await page.context.cookies() if c["name"] == sessions.COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert abs(cookie["expires"] - (time.time() + 12 * 3600)) < 120
    user = await console.pool.fetchval("SELECT user_id FROM console_sessions WHERE revoked_at IS NULL")
    assert user == "U0SIGNIN"


async def test_a_member_of_another_team_is_refused(console: Console) -> None:
    console.slack.oidc_user = {"sub": "U0STRANGER", "name": "Eve", "https://slack.com/team_id": "T9OTHER"}
    page = await console.page()
    await page.goto(f"{console.base}/console/login")
    async with page.expect_response(lambda r: "/console/login/callback" in r.url) as answer:
        await page.get_by_role("link", name="Sign in with Slack").click()
    assert (await answer.value).status == 403
    assert "Only members of this service's Slack workspace" in await page.inner_text("main")
    assert await console.pool.fetchval("SELECT count(*) FROM console_sessions") == 0


async def test_a_sign_in_link_works_once(console: Console) -> None:
    token = await sessions.create_link(console.pool)
    first, second = await console.page(), await console.page()
    await first.goto(f"{console.base}/console/link/{token}")
    assert first.url == f"{console.base}/console"
    response = await second.goto(f"{console.base}/console/link/{token}")
    assert response is not None and response.status == 403
    await console.pool.execute("UPDATE console_login_links SET used_at = NULL, expires_at = now() - interval '1 s'")
    response = await second.goto(f"{console.base}/console/link/{token}")
    assert response is not None and response.status == 403


async def test_csrf_is_refused_and_signing_out_ends_the_session(console: Console) -> None:
    page = await console.signed_in()
    forged = await page.request.post(f"{console.base}/console/logout", form={"csrf": "0" * 64})
    assert forged.status == 403
    missing = await page.request.post(f"{console.base}/console/outbox/1/retry", form={})
    assert missing.status == 403
    cookies = await page.context.cookies()
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{console.base}/console/login?done=signed_out")
    assert "You are signed out." in await page.inner_text("main")
    # The old cookie, replayed by someone who copied it, no longer opens anything.
    stale = await console.page()
    await stale.context.add_cookies(cookies)
    await stale.goto(f"{console.base}/console")
    assert stale.url == f"{console.base}/console/login"
