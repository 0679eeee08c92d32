"""The console's plumbing: who is signed in, security headers, rendering, CSRF-checked forms, the audit row."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
import asyncpg
from aiohttp import web
from aiohttp.typedefs import Handler

from domain import settings
from domain.ledger import actions
from handlers.console import sessions
from handlers.console.sessions import Person
from handlers.keys import POOL

PREFIX = "/console"
KEY = web.AppKey("console_key", bytes)
PERSON = web.RequestKey("console_person", Person)
ADMINS_KEY = "console.admins"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
NOTICES = {
    "acknowledge": "Incident acknowledged.",
    "mitigate": "Incident marked mitigating.",
    "resolve": "Incident resolved.",
    "approved": "Approved: the agent resumes and the Slack message is updated.",
    "rejected": "Rejected: the agent is told why and the Slack message is updated.",
    "replayed": "Delivery replayed.",
    "retried": "Outbox row queued to run now.",
    "saved": "Setting saved.",
    "signed_out": "You are signed out.",
}

Page = Callable[[web.Request, Person], Awaitable[web.StreamResponse]]


@web.middleware
async def console(request: web.Request, handler: Handler) -> web.StreamResponse:
    """For /console paths: find the session of the cookie; set the strict CSP on every answer."""
    if not request.path.startswith(PREFIX):
        return await handler(request)
    session_id = sessions.unsign(request.app[KEY], request.cookies.get(sessions.COOKIE))
    if session_id is not None:
        person = await sessions.find(request.app[POOL], session_id)
        if person is not None:
            request[PERSON] = person
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(HEADERS)
        raise
    response.headers.update(HEADERS)
    if not request.path.startswith(f"{PREFIX}/static/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def person_of(request: web.Request) -> Person | None:
    return request.get(PERSON)


def signed_in(page: Page) -> Handler:
    """Pages for people who are signed in; others are sent to the sign-in page."""

    async def handler(request: web.Request) -> web.StreamResponse:
        person = person_of(request)
        if person is None:
            if request.method != "GET":
                return refuse(request, 401, "Sign in first.")
            raise web.HTTPSeeOther(f"{PREFIX}/login")
        return await page(request, person)

    return handler


def render(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    person = person_of(request)
    base = {
        "person": person,
        "csrf": sessions.csrf_token(request.app[KEY], person.session_id) if person else "",
        "path": request.path,
        "here": request.path_qs,
        "notice": NOTICES.get(request.query.get("done", "")),
    }
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)


def see_other(location: str) -> web.Response:
    """Post/redirect/get: the answer to a form, and to a page that belongs elsewhere."""
    return web.Response(status=303, headers={"Location": location})


def partial(request: web.Request) -> bool:
    """An htmx poll asks only for the live region."""
    return request.headers.get("HX-Request") == "true"


def refuse(request: web.Request, status: int, message: str) -> web.Response:
    return render(request, "refused.html", {"title": "Refused", "message": message}, status=status)


async def form(request: web.Request, person: Person) -> dict[str, str] | None:
    """The POSTed form, or None when its CSRF token is missing or wrong."""
    data = await request.post()
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    return fields if sessions.csrf_ok(request.app[KEY], person.session_id, fields.get("csrf")) else None


async def is_admin(pool: asyncpg.Pool, person: Person) -> bool:
    if person.local_admin:
        return True
    admins = await settings.get(pool, ADMINS_KEY, [])
    return isinstance(admins, list) and person.user_id in admins


async def audit(
    conn: asyncpg.Connection,
    person: Person,
    what: str,
    context: dict[str, Any],
    result: dict[str, Any],
    ok: bool,
    incident_id: uuid.UUID | None = None,
) -> None:
    """One agent_actions row per console action, with the person's Slack id."""
    await actions.record(
        conn,
        {
            "agent_name": "console",
            "action_type": f"console.{what}",
            "action_category": "console",
            "input_context": {**context, "slack_user_id": person.user_id, "user_name": person.name},
            "output_result": result,
            "success": ok,
            "incident_id": incident_id,
        },
    )
