"""Hook deliveries through the GitHub REST API (PyGithub, synchronous: callers run these in a thread).

Repository and organisation hooks are listed with PyGithub's ``get_hook_deliveries``; a GitHub App's hook
(``/app/hook/deliveries``) and every redelivery (``POST .../deliveries/{id}/attempts``, which PyGithub
does not cover) go through PyGithub's requester, so authentication, base URL and errors stay PyGithub's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from github import Auth, Github, GithubException
from github.HookDelivery import HookDeliverySummary
from github.PaginatedList import PaginatedList

REPOSITORY = "repository"
ORGANIZATION = "organization"
APP = "app"


TIMEOUT_S = 15


class HookError(RuntimeError):
    """GitHub refused or failed a hook-delivery call (the message names the hook, never a token)."""


@dataclass(frozen=True)
class Delivery:
    id: int
    guid: str
    event: str | None
    action: str | None
    delivered_at: datetime | None
    status_code: int | None
    redelivery: bool

    @property
    def failed(self) -> bool:
        return self.status_code is None or not 200 <= self.status_code < 300


def make_client(api_url: str, token: str | None) -> Github:
    """PyGithub on ``api_url``; lazy, so naming a repository or organisation costs no request."""
    auth = Auth.Token(token) if token else None
    return Github(auth=auth, base_url=api_url, timeout=TIMEOUT_S, per_page=100, retry=None, lazy=True)


def _utc(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def _summaries(gh: Github, kind: str, target: str | None, hook_id: int | None) -> PaginatedList[HookDeliverySummary]:
    if kind == REPOSITORY and target and hook_id:
        return gh.get_repo(target).get_hook_deliveries(hook_id)
    if kind == ORGANIZATION and target and hook_id:
        return gh.get_organization(target).get_hook_deliveries(hook_id)
    if kind == APP:
        return PaginatedList(HookDeliverySummary, gh.requester, "/app/hook/deliveries", {"per_page": 100})
    raise HookError(f"not a hook: {kind} {target} {hook_id}")


def _path(kind: str, target: str | None, hook_id: int | None) -> str:
    if kind == REPOSITORY:
        return f"/repos/{target}/hooks/{hook_id}/deliveries"
    if kind == ORGANIZATION:
        return f"/orgs/{target}/hooks/{hook_id}/deliveries"
    return "/app/hook/deliveries"


def _delivery(d: HookDeliverySummary) -> Delivery | None:
    if d.id is None or not d.guid:
        return None
    return Delivery(d.id, d.guid, d.event, d.action, _utc(d.delivered_at), d.status_code, bool(d.redelivery))


def recent_deliveries(
    gh: Github, kind: str, target: str | None, hook_id: int | None, since: datetime
) -> list[Delivery]:
    """The hook's deliveries (every attempt, redeliveries included) delivered at or after ``since``.
    GitHub lists newest first, so the walk stops at the first older one."""
    found: list[Delivery] = []
    try:
        pages: Iterable[HookDeliverySummary] = _summaries(gh, kind, target, hook_id)
        for summary in pages:
            delivery = _delivery(summary)
            if delivery is None:
                continue
            if delivery.delivered_at is not None and delivery.delivered_at < since:
                break
            found.append(delivery)
    except GithubException as exc:
        raise HookError(
            f"GitHub answered {exc.status} listing deliveries of {kind} hook {target or ''} {hook_id or ''}"
        ) from exc
    return found


def redeliver(gh: Github, kind: str, target: str | None, hook_id: int | None, delivery_id: int) -> None:
    """Ask GitHub to send delivery ``delivery_id`` again (GitHub answers 202 and sends it shortly)."""
    try:
        gh.requester.requestJsonAndCheck("POST", f"{_path(kind, target, hook_id)}/{delivery_id}/attempts")
    except GithubException as exc:
        raise HookError(
            f"GitHub answered {exc.status} redelivering {delivery_id} of {kind} hook {hook_id or ''}"
        ) from exc
