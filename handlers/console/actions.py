"""The console's actions (POST): the same domain functions as the API and Slack, audited with the person.

Each answer is post/redirect/get; a refusal is a page with a 4xx status. Every form needs its CSRF token.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from aiohttp import web

import logs
from domain import settings
from domain.approvals import store as approvals
from domain.approvals.rules import Approval, Decision, InvalidField, is_open, parse_reason, why_closed
from domain.incidents import fix_timeline
from domain.incidents import store as incidents
from domain.incidents.rules import Transition, next_status, refusal
from handlers.console.pages import decidable, settings_page
from handlers.console.sessions import Person
from handlers.console.web import PREFIX, audit, form, is_admin, refuse, see_other, signed_in
from handlers.keys import POOL, WIRING
from jobs import inbox, outbox

FORGED = "This form is stale or forged (CSRF token missing or wrong): reload the page and try again."
MOVES = {t.value: t for t in (Transition.ACKNOWLEDGE, Transition.MITIGATE, Transition.RESOLVE)}


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


async def transition(request: web.Request, person: Person) -> web.StreamResponse:
    fields = await form(request, person)
    if fields is None:
        return refuse(request, 403, FORGED)
    incident_id, move = _uuid(request.match_info["id"]), MOVES.get(fields.get("action", ""))
    if incident_id is None or move is None:
        return refuse(request, 400, "Choose acknowledge, mitigate or resolve on an existing incident.")
    steps = [s.strip() for s in fields.get("steps", "").splitlines() if s.strip()] or None
    summary = fields.get("summary", "").strip() or None
    if move is Transition.RESOLVE and (not steps or not summary):
        return refuse(request, 400, "Resolving needs the steps taken (one per line) and a summary.")
    now = datetime.now(UTC)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        current = await incidents.get(conn, incident_id)
        if current is None:
            return refuse(request, 404, "No such incident.")
        updated = None
        if next_status(current.status, move) is not None:
            updated = await incidents.transition(
                conn,
                incident_id,
                move,
                now=now,
                by=person.user_id if move is Transition.RESOLVE else None,
                steps=steps,
                summary=summary,
                note=f"{move.value} from the console by <@{person.user_id}>",
            )
        if updated is None:
            status = (await incidents.get(conn, incident_id) or current).status
            return refuse(request, 409, refusal(status, move))
        if move in (Transition.ACKNOWLEDGE, Transition.MITIGATE):
            await fix_timeline.acknowledge(conn, await fix_timeline.for_incident(conn, incident_id), now)
        await audit(
            conn,
            person,
            f"incident.{move.value}",
            {"incident": str(incident_id)},
            {"status": updated.status},
            True,
            incident_id=incident_id,
        )
    return see_other(f"{PREFIX}/incidents/{incident_id}?done={move.value}")


async def decide(request: web.Request, person: Person) -> web.StreamResponse:
    """Approve or reject with the Slack approver policy; the database settles a race with a Slack click."""
    fields = await form(request, person)
    if fields is None:
        return refuse(request, 403, FORGED)
    approval_id = _uuid(request.match_info["id"])
    decision = {"approve": Decision.APPROVED, "reject": Decision.REJECTED}.get(fields.get("decision", ""))
    pool = request.app[POOL]
    approval = await approvals.get(pool, approval_id) if approval_id else None
    if approval_id is None or approval is None or decision is None:
        return refuse(request, 404, "No such approval request, or no decision given.")
    if not await decidable(request, person, approval.risk):
        logs.event("console.approvals.refused", approval_id=str(approval_id), user=person.user_id)
        return refuse(request, 403, f"You may not decide {approval.risk_level} risk requests (approvals.approvers).")
    try:
        reason = parse_reason(fields.get("reason"))
    except InvalidField as exc:
        return refuse(request, 400, exc.problem)
    if decision is Decision.REJECTED and reason is None:
        return refuse(request, 400, "Say why you reject it, so the agent can adapt.")
    now = datetime.now(UTC)
    if not is_open(approval.status, approval.expires_at, now):
        return refuse(request, 409, _closed(approval, now))
    async with pool.acquire() as conn, conn.transaction():
        outcome = await approvals.decide(conn, approval_id, decision, by=person.user_id, reason=reason)
        await audit(
            conn,
            person,
            f"approval.{decision.value}",
            {"approval_id": str(approval_id), "reason": reason},
            {"won": outcome.won, "status": outcome.approval.status if outcome.approval else None},
            outcome.won,
        )
    if not outcome.won:
        late = outcome.approval
        return refuse(request, 409, _closed(late, datetime.now(UTC)) if late else "This request no longer exists.")
    return see_other(f"{PREFIX}/approvals?done={decision.value}")


def _closed(approval: Approval, now: datetime) -> str:
    return why_closed(
        approval.status,
        resolved_by=approval.resolved_by,
        resolved_at=approval.resolved_at,
        expires_at=approval.expires_at,
        now=now,
    )


async def replay(request: web.Request, person: Person) -> web.StreamResponse:
    if await form(request, person) is None:
        return refuse(request, 403, FORGED)
    try:
        row_id = int(request.match_info["id"])
    except ValueError:
        return refuse(request, 404, "No such delivery.")
    pool = request.app[POOL]
    outcome = (await inbox.replay(pool, request.app[WIRING].router, [row_id]))[row_id]
    async with pool.acquire() as conn:
        await audit(conn, person, "delivery.replay", {"delivery": row_id}, {"outcome": outcome}, outcome != "failed")
    if outcome == "skipped":
        return refuse(request, 404, "No such delivery, or it was already processed.")
    return see_other(f"{PREFIX}/deliveries?done=replayed")


async def retry(request: web.Request, person: Person) -> web.StreamResponse:
    if await form(request, person) is None:
        return refuse(request, 403, FORGED)
    try:
        row_id = int(request.match_info["id"])
    except ValueError:
        return refuse(request, 404, "No such outbox row.")
    async with request.app[POOL].acquire() as conn, conn.transaction():
        queued = await outbox.retry_now(conn, row_id)
        await audit(conn, person, "outbox.retry", {"outbox_id": row_id}, {"queued": queued}, queued)
    if not queued:
        return refuse(request, 404, "No such outbox row waiting or dead.")
    return see_other(f"{PREFIX}/deliveries?done=retried")


async def put_setting(request: web.Request, person: Person) -> web.StreamResponse:
    fields = await form(request, person)
    if fields is None:
        return refuse(request, 403, FORGED)
    pool, key = request.app[POOL], request.match_info["key"]
    if not await is_admin(pool, person):
        return refuse(request, 403, "Only the people listed in console.admins may edit settings.")
    raw = fields.get("value", "")
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return await settings_page(request, person, errors={key: f"not JSON: {exc}"}, drafts={key: raw})
    async with pool.acquire() as conn, conn.transaction():
        if await settings.row(conn, key) is None:
            return refuse(request, 404, f"No setting {key!r}.")
        try:
            await settings.put(conn, key, value, updated_by=person.user_id)
        except settings.InvalidValue as exc:
            return await settings_page(request, person, errors={key: str(exc)}, drafts={key: raw})
        await audit(conn, person, "setting.put", {"key": key, "value": value}, {"saved": True}, True)
    return see_other(f"{PREFIX}/settings?done=saved#setting-{key}")


def add_routes(app: web.Application) -> None:
    app.router.add_post(f"{PREFIX}/incidents/{{id}}/transition", signed_in(transition))
    app.router.add_post(f"{PREFIX}/approvals/{{id}}/decide", signed_in(decide))
    app.router.add_post(f"{PREFIX}/deliveries/{{id}}/replay", signed_in(replay))
    app.router.add_post(f"{PREFIX}/outbox/{{id}}/retry", signed_in(retry))
    app.router.add_post(f"{PREFIX}/settings/{{key}}", signed_in(put_setting))
