"""The three sweeps: GitHub hook deliveries we never stored are asked for again; Linear and Sentry issue
states we never heard of are applied through the domain functions their webhooks call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

import logs
from config import Config
from domain.incidents import error_tracking, fix_events, sentry_mappings
from domain.incidents import store as incidents
from domain.sweeper import rules, store
from domain.sweeper.heal import heal
from domain.sweeper.rules import Hook, Missed
from integrations.github import hooks as github
from integrations.linear import client as linear
from integrations.linear.payloads import LinearIssue
from integrations.sentry import client as sentry
from integrations.sentry.payloads import IssueAction, SentryIssue
from jobs.outbox import Context

Advance = Callable[[int], None]


@dataclass
class Tally:
    checked: int = 0
    missing: int = 0
    redelivered: int = 0
    healed: int = 0
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "checked": self.checked,
            "missing": self.missing,
            "redelivered": self.redelivered,
            "healed": self.healed,
        }
        if self.errors:
            out["errors"] = self.errors[:20]
        return out


def _error(exc: BaseException) -> str:
    """A failure for the report: ours carry a safe message; others only their type (a URL may hold a token)."""
    if isinstance(exc, github.HookError | sentry.SentryError | linear.LinearError):
        return str(exc)[:300]
    return type(exc).__name__


@dataclass(frozen=True)
class GitHubPlan:
    hooks: list[Hook]
    since: datetime
    settle_before: datetime
    again_after_s: float


async def sweep_github(pool: asyncpg.Pool, config: Config, run_id: int, plan: GitHubPlan, advance: Advance) -> Tally:
    tally = Tally()
    gh = github.make_client(config.github_api_url, config.github_token)
    for hook in plan.hooks:
        try:
            listed = await asyncio.to_thread(
                github.recent_deliveries, gh, hook.kind, hook.target, hook.hook_id, plan.since
            )
            await _redeliver_missing(pool, gh, run_id, hook, rules.settled(listed, plan.settle_before), plan, tally)
        except Exception as exc:
            tally.errors.append(f"{hook.key}: {_error(exc)}")
            logs.event("sweeper.github_failed", logging.WARNING, hook=hook.key, error=_error(exc))
        advance(1)
    return tally


async def _redeliver_missing(
    pool: asyncpg.Pool,
    gh: Any,
    run_id: int,
    hook: Hook,
    listed: list[github.Delivery],
    plan: GitHubPlan,
    tally: Tally,
) -> None:
    guids = sorted({d.guid for d in listed})
    missing = rules.to_redeliver(listed, await store.stored_guids(pool, guids))
    tally.checked += len(guids)
    tally.missing += len(missing)
    for d in missing:
        if not await store.claim_redelivery(pool, hook.key, d.guid, d.id, d.event, run_id, plan.again_after_s):
            continue  # asked recently (by this sweeper or another replica's): GitHub is on it
        try:
            await asyncio.to_thread(github.redeliver, gh, hook.kind, hook.target, hook.hook_id, d.id)
        except Exception as exc:
            await store.redelivery_outcome(pool, hook.key, d.guid, _error(exc), accepted=False)
            tally.errors.append(f"{hook.key} {d.guid}: {_error(exc)}")
            continue
        await store.redelivery_outcome(pool, hook.key, d.guid, "requested", accepted=True)
        tally.redelivered += 1
        logs.event("sweeper.redelivered", hook=hook.key, guid=d.guid, delivery=d.id, event_type=d.event)


def _linear_what(issue: LinearIssue) -> str:
    if issue.action == "remove":
        return f"{issue.identifier} was deleted in Linear"
    return f"{issue.identifier} is {issue.state_name or issue.state_type or 'changed'} in Linear"


async def sweep_linear(
    pool: asyncpg.Pool, config: Config, run_id: int, identifiers: list[str], batch_size: int, advance: Advance
) -> Tally:
    tally = Tally()
    ctx = Context(pool=pool, config=config)
    for batch in rules.batches(identifiers, batch_size):
        try:
            states = await linear.issues_state(ctx, list(batch))
        except Exception as exc:
            tally.errors.append(_error(exc))
            advance(len(batch))
            continue
        for identifier in batch:
            issue = states.get(identifier)
            if issue is None:
                continue
            tally.checked += 1
            changed = await heal(
                pool,
                run_id=run_id,
                source="linear",
                key=identifier,
                what=_linear_what(issue),
                apply=lambda conn, issue=issue: fix_events.on_linear_issue(conn, issue, now=datetime.now(UTC)),
                linear=identifier,
            )
            tally.missing += changed
            tally.healed += changed
        advance(len(batch))
    return tally


def resolved_in_sentry(resolved_by: str | None) -> bool:
    """Our resolution came from Sentry (its actor), not from the Linear issue (``linear``)."""
    return resolved_by is not None and resolved_by != "linear"


async def _missed(conn: asyncpg.Connection, state: sentry.IssueState) -> Missed | None:
    issue = state.issue
    mapping = await sentry_mappings.get(conn, issue.issue_id)
    latest = await incidents.latest_for_sentry(conn, issue.issue_id)
    return rules.sentry_missed(
        issue.status,
        state.substatus,
        issue.last_seen,
        rules.ours(mapping.status if mapping else None, latest.status if latest else None),
        mapping.last_seen_at if mapping else None,
        resolved_in_sentry=resolved_in_sentry(latest.row.get("resolved_by") if latest else None),
    )


async def _apply_sentry(conn: asyncpg.Connection, state: sentry.IssueState, expected: Missed) -> None:
    """Apply ``expected`` only if it is still missed under the issue's lock (a webhook may have come)."""
    issue: SentryIssue = state.issue
    missed = await _missed(conn, state)
    if missed is not expected:
        return
    now = datetime.now(UTC)
    if missed is Missed.REGRESSED:
        await error_tracking.on_events(conn, [rules.event_of(issue)], now=now)
    else:
        action = {Missed.RESOLVED: IssueAction.RESOLVED, Missed.IGNORED: IssueAction.IGNORED}
        await error_tracking.on_issue(conn, issue, action.get(missed, IssueAction.UNRESOLVED), now=now)


async def sweep_sentry(
    pool: asyncpg.Pool,
    config: Config,
    run_id: int,
    candidates: list[store.SentryCandidate],
    batch_size: int,
    advance: Advance,
) -> Tally:
    tally = Tally()
    for batch in rules.batches(candidates, batch_size):
        try:
            states = await sentry.issue_states(config, [c.sentry_issue_id for c in batch])
        except Exception as exc:
            tally.errors.append(_error(exc))
            advance(len(batch))
            continue
        for c in batch:
            state = states.get(c.sentry_issue_id)
            if state is None:
                continue
            tally.checked += 1
            our_status = rules.ours(c.mapping_status, c.incident_status)
            issue = state.issue
            missed = rules.sentry_missed(
                issue.status,
                state.substatus,
                issue.last_seen,
                our_status,
                c.last_seen_at,
                resolved_in_sentry=resolved_in_sentry(c.resolved_by),
            )
            if missed is None:
                continue
            tally.missing += 1
            tally.healed += await heal(
                pool,
                run_id=run_id,
                source="sentry",
                key=c.sentry_issue_id,
                what=f"Sentry issue {issue.short_id or issue.issue_id} {missed.value}",
                apply=lambda conn, state=state, missed=missed: _apply_sentry(conn, state, missed),
                sentry=c.sentry_issue_id,
            )
        advance(len(batch))
    return tally
