"""Signing in and out: Sign in with Slack (OpenID Connect), the one-time local link, sign-out.

The OIDC callback exchanges the code with ``openid.connect.token`` and reads the person with
``openid.connect.userInfo`` (slack_sdk on SLACK_API_URL). Only members of the bot token's own team
(``auth.test``'s team_id) get a session.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlencode

from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

import logs
from handlers.console import sessions
from handlers.console.sessions import Person
from handlers.console.web import KEY, PREFIX, form, person_of, refuse, render, see_other, signed_in
from handlers.keys import CONFIG, POOL
from integrations.slack import client as slack_api

STATE_COOKIE = "swarm_console_oidc"
CALLBACK = f"{PREFIX}/login/callback"
TEAM_CLAIM = "https://slack.com/team_id"
USER_CLAIM = "https://slack.com/user_id"


def _secure(request: web.Request) -> bool:
    public = request.app[CONFIG].public_url
    return request.secure or bool(public and public.startswith("https://"))


def _redirect_uri(request: web.Request) -> str:
    base = request.app[CONFIG].public_url or f"{request.scheme}://{request.host}"
    return base.rstrip("/") + CALLBACK


def _signed_in(request: web.Request, session_id: str) -> web.Response:
    response = see_other(PREFIX)
    response.set_cookie(
        sessions.COOKIE,
        sessions.sign(request.app[KEY], session_id),
        max_age=sessions.SESSION_S,
        httponly=True,
        samesite="Lax",
        secure=_secure(request),
        path=PREFIX,
    )
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    if person_of(request) is not None:
        raise web.HTTPSeeOther(PREFIX)
    config = request.app[CONFIG]
    slack_ready = bool(config.slack_client_id and config.slack_client_secret and config.slack_bot_token)
    return render(request, "login.html", {"title": "Sign in", "slack_ready": slack_ready})


async def to_slack(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    if not (config.slack_client_id and config.slack_client_secret and config.slack_bot_token):
        return refuse(
            request, 503, "Sign in with Slack needs SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and SLACK_BOT_TOKEN."
        )
    state = secrets.token_urlsafe(24)
    query = urlencode(
        {
            "response_type": "code",
            "scope": "openid profile",
            "client_id": config.slack_client_id,
            "state": state,
            "nonce": secrets.token_urlsafe(16),
            "redirect_uri": _redirect_uri(request),
        }
    )
    response = web.Response(status=302, headers={"Location": f"{config.slack_oidc_authorize_url}?{query}"})
    response.set_cookie(
        STATE_COOKIE,
        sessions.sign(request.app[KEY], state),
        max_age=600,
        httponly=True,
        samesite="Lax",
        secure=_secure(request),
        path=CALLBACK,
    )
    return response


async def callback(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    state = sessions.unsign(request.app[KEY], request.cookies.get(STATE_COOKIE))
    code = request.query.get("code")
    if state is None or not code or not secrets.compare_digest(state, request.query.get("state", "")):
        return refuse(request, 400, "This sign-in attempt is not the one this browser started: sign in again.")
    if not (config.slack_client_id and config.slack_client_secret):
        return refuse(request, 503, "Sign in with Slack is not configured.")
    try:
        anonymous = AsyncWebClient(base_url=config.slack_api_url, timeout=slack_api.TIMEOUT_S)
        granted = await anonymous.openid_connect_token(
            client_id=config.slack_client_id,
            client_secret=config.slack_client_secret,
            code=code,
            redirect_uri=_redirect_uri(request),
        )
        person = AsyncWebClient(token=granted["access_token"], base_url=config.slack_api_url)
        info = await person.openid_connect_userInfo()
        bot_team = (await slack_api.make_client(config).auth_test()).get("team_id")
    except (SlackApiError, KeyError) as exc:
        logs.event("console.oidc_failed", logging.WARNING, error=type(exc).__name__)
        return refuse(request, 502, "Slack did not confirm this sign-in: try again.")
    user_id, team_id = info.get(USER_CLAIM) or info.get("sub"), info.get(TEAM_CLAIM)
    if not user_id or not bot_team or team_id != bot_team:
        logs.event("console.oidc_other_team", logging.WARNING, user=user_id, team=team_id)
        return refuse(request, 403, "Only members of this service's Slack workspace may sign in.")
    session_id = await sessions.start(request.app[POOL], str(user_id), info.get("name"))
    logs.event("console.signed_in", user=user_id, via="slack")
    response = _signed_in(request, session_id)
    response.del_cookie(STATE_COOKIE, path=CALLBACK)
    return response


async def link(request: web.Request) -> web.StreamResponse:
    user_id = await sessions.consume_link(request.app[POOL], request.match_info["token"])
    if user_id is None:
        return refuse(request, 403, "This sign-in link is used, expired or unknown: print a new one.")
    session_id = await sessions.start(request.app[POOL], user_id, None, local_admin=True)
    logs.event("console.signed_in", user=user_id, via="link")
    return _signed_in(request, session_id)


async def logout(request: web.Request, person: Person) -> web.StreamResponse:
    if await form(request, person) is None:
        return refuse(request, 403, "This form is stale or forged (CSRF token missing or wrong).")
    await sessions.revoke(request.app[POOL], person.session_id)
    response = see_other(f"{PREFIX}/login?done=signed_out")
    response.del_cookie(sessions.COOKIE, path=PREFIX)
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/login", login_page)
    app.router.add_get(f"{PREFIX}/login/slack", to_slack)
    app.router.add_get(CALLBACK, callback)
    app.router.add_get(f"{PREFIX}/link/{{token}}", link)
    app.router.add_post(f"{PREFIX}/logout", signed_in(logout))
