"""GitHub payloads parsed into small typed events (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from integrations.webhooks.fields import dig, text, when

FAILED = frozenset({"failure", "timed_out", "startup_failure"})
SUCCEEDED = frozenset({"success"})
# A Linear identifier: team key, dash, number (ENG-123); branches carry it in lower case (eng-123-fix).
IDENTIFIER = re.compile(r"(?<![A-Za-z0-9])([A-Za-z][A-Za-z0-9]{0,9})-(\d{1,7})(?![A-Za-z0-9])")


class ParseError(ValueError):
    pass


def linear_identifiers(*texts: str | None, known_keys: frozenset[str] | None = None) -> tuple[str, ...]:
    """Every ``KEY-123`` named in the texts, upper-cased, first mention first, each once. With ``known_keys``
    only identifiers of those teams: GitHub's web-edit branches (``alice-patch-1``) name no Linear issue."""
    found: dict[str, None] = {}
    for chunk in texts:
        for key, number in IDENTIFIER.findall(chunk or ""):
            if known_keys is None or key.upper() in known_keys:
                found.setdefault(f"{key.upper()}-{int(number)}", None)
    return tuple(found)


class CiKind(StrEnum):
    WORKFLOW_RUN = "workflow_run"
    CHECK_SUITE = "check_suite"
    CHECK_RUN = "check_run"
    STATUS = "status"


# Check suites and runs of GitHub Actions are reported by workflow_run already.
ACTIONS_APP = "github-actions"
STATUS_FAILED = frozenset({"failure", "error"})


@dataclass(frozen=True)
class WorkflowRun:
    """One completed CI result: a workflow run, a check suite, a check run or a commit status."""

    run_id: str
    repository: str
    workflow: str  # the workflow, check or status context name
    branch: str | None
    default_branch: str | None
    conclusion: str | None
    url: str | None
    head_sha: str | None
    completed_at: datetime | None
    attempt: int = 1
    head_repository: str | None = None
    kind: CiKind = CiKind.WORKFLOW_RUN
    on_default: bool | None = None  # given where the payload says it (status: its branches)

    @property
    def key(self) -> str:
        """The ci_failure incident key: repository, workflow (check, context) and branch."""
        return f"{self.repository}:{self.workflow}:{self.branch}"

    @property
    def order(self) -> tuple[int, int]:
        """Runs of one key ordered by run id, then attempt (a later green resolves, an older red does not)."""
        return (int(self.run_id) if self.run_id.isdigit() else 0, self.attempt)

    @property
    def on_default_branch(self) -> bool:
        """On the default branch of this repository: a fork's run on its own ``main`` is not."""
        if self.head_repository is not None and self.head_repository != self.repository:
            return False
        if self.on_default is not None:
            return self.on_default
        return self.branch is not None and self.branch == self.default_branch

    @property
    def failed(self) -> bool:
        return self.conclusion in (STATUS_FAILED if self.kind is CiKind.STATUS else FAILED)

    @property
    def succeeded(self) -> bool:
        return self.conclusion in SUCCEEDED

    def details(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "attempt": self.attempt,
            "kind": self.kind.value,
            "conclusion": self.conclusion,
            "url": self.url,
            "head_sha": self.head_sha,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }


def _attempt(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def parse_workflow_run(payload: dict[str, Any]) -> WorkflowRun:
    run = payload.get("workflow_run")
    run_id = text(dig(run, "id"))
    repository = text(dig(payload, "repository", "full_name"))
    if not isinstance(run, dict) or run_id is None or repository is None:
        raise ParseError("workflow_run payload without workflow_run.id or repository.full_name")
    workflow = text(dig(payload, "workflow", "name")) or text(run.get("name")) or text(run.get("path")) or "workflow"
    return WorkflowRun(
        run_id=run_id,
        repository=repository,
        workflow=workflow,
        branch=text(run.get("head_branch")),
        default_branch=text(dig(payload, "repository", "default_branch")),
        conclusion=text(run.get("conclusion")),
        url=text(run.get("html_url")),
        head_sha=text(run.get("head_sha")),
        completed_at=when(run.get("updated_at")),
        attempt=_attempt(run.get("run_attempt")),
        head_repository=text(dig(run, "head_repository", "full_name")),
    )


def parse_check(payload: dict[str, Any], kind: CiKind) -> WorkflowRun | None:
    """A completed check suite or check run (None: one of GitHub Actions, which workflow_run reports)."""
    check = payload.get(kind.value)
    check_id = text(dig(check, "id"))
    repository = text(dig(payload, "repository", "full_name"))
    if not isinstance(check, dict) or check_id is None or repository is None:
        raise ParseError(f"{kind} payload without {kind}.id or repository.full_name")
    app = check.get("app") if kind is CiKind.CHECK_SUITE else dig(check, "check_suite", "app") or check.get("app")
    if text(dig(app, "slug")) == ACTIONS_APP:
        return None
    suite = check if kind is CiKind.CHECK_SUITE else check.get("check_suite")
    name = text(check.get("name")) if kind is CiKind.CHECK_RUN else None
    return WorkflowRun(
        run_id=check_id,
        repository=repository,
        workflow=name or text(dig(app, "name")) or text(dig(app, "slug")) or kind.value,
        branch=text(dig(suite, "head_branch")),
        default_branch=text(dig(payload, "repository", "default_branch")),
        conclusion=text(check.get("conclusion")),
        url=text(check.get("html_url")) or text(check.get("details_url")) or text(check.get("url")),
        head_sha=text(check.get("head_sha")),
        completed_at=when(check.get("completed_at")) or when(check.get("updated_at")),
        kind=kind,
    )


def parse_status(payload: dict[str, Any]) -> WorkflowRun:
    """A commit status (CircleCI, Jenkins, Buildkite ...); on the default branch when that branch's head
    is the commit (``branches``)."""
    status_id, repository = text(payload.get("id")), text(dig(payload, "repository", "full_name"))
    if status_id is None or repository is None:
        raise ParseError("status payload without id or repository.full_name")
    default = text(dig(payload, "repository", "default_branch"))
    branches = [text(dig(b, "name")) for b in payload.get("branches") or [] if isinstance(b, dict)]
    on_default = default is not None and default in branches
    return WorkflowRun(
        run_id=status_id,
        repository=repository,
        workflow=text(payload.get("context")) or "status",
        branch=default if on_default else next((b for b in branches if b), None),
        default_branch=default,
        conclusion=text(payload.get("state")),
        url=text(payload.get("target_url")),
        head_sha=text(payload.get("sha")),
        completed_at=when(payload.get("updated_at")) or when(payload.get("created_at")),
        kind=CiKind.STATUS,
        on_default=on_default,
    )


@dataclass(frozen=True)
class DeploymentStatus:
    status_id: str
    repository: str
    environment: str
    state: str | None
    sha: str | None
    ref: str | None
    url: str | None
    created_at: datetime | None

    @property
    def key(self) -> str:
        return f"deploy:{self.repository}:{self.environment}"

    @property
    def failed(self) -> bool:
        return self.state in STATUS_FAILED

    @property
    def succeeded(self) -> bool:
        return self.state == "success"

    @property
    def order(self) -> tuple[int, int]:
        return (int(self.status_id) if self.status_id.isdigit() else 0, 1)


def parse_deployment_status(payload: dict[str, Any]) -> DeploymentStatus:
    status, deployment = payload.get("deployment_status"), payload.get("deployment")
    status_id, repository = text(dig(status, "id")), text(dig(payload, "repository", "full_name"))
    if not isinstance(status, dict) or not isinstance(deployment, dict) or status_id is None or repository is None:
        raise ParseError("deployment_status payload without deployment_status.id, deployment or repository")
    return DeploymentStatus(
        status_id=status_id,
        repository=repository,
        environment=text(status.get("environment")) or text(deployment.get("environment")) or "production",
        state=text(status.get("state")),
        sha=text(deployment.get("sha")),
        ref=text(deployment.get("ref")),
        url=text(status.get("target_url")) or text(status.get("log_url")) or text(status.get("environment_url")),
        created_at=when(status.get("updated_at")) or when(status.get("created_at")),
    )


class AlertKind(StrEnum):
    SECRET_SCANNING = "secret_scanning_alert"
    DEPENDABOT = "dependabot_alert"
    CODE_SCANNING = "code_scanning_alert"


ALERT_OPENS = frozenset({"created", "reopened", "reopened_by_user", "auto_reopened"})
ALERT_CLOSES = frozenset({"fixed", "resolved", "dismissed", "auto_dismissed", "closed_by_user"})
RULE_SEVERITY = {"error": "high", "warning": "medium", "note": "low"}
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class SecurityAlert:
    kind: AlertKind
    action: str
    repository: str
    number: int
    severity: str
    title: str
    url: str | None
    at: datetime | None

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.repository}:{self.number}"

    @property
    def opens(self) -> bool:
        return self.action in ALERT_OPENS

    @property
    def reopens(self) -> bool:
        return self.action != "created" and self.opens

    @property
    def closes(self) -> bool:
        return self.action in ALERT_CLOSES


def _alert_severity(kind: AlertKind, alert: dict[str, Any]) -> str:
    if kind is AlertKind.SECRET_SCANNING:
        return "critical"
    given = (
        text(dig(alert, "security_advisory", "severity")) or text(dig(alert, "security_vulnerability", "severity"))
        if kind is AlertKind.DEPENDABOT
        else text(dig(alert, "rule", "security_severity_level"))
        or RULE_SEVERITY.get(text(dig(alert, "rule", "severity")) or "")
    )
    given = (given or "").lower()
    return "medium" if given == "moderate" else given if given in SEVERITIES else "medium"


def parse_security_alert(payload: dict[str, Any], kind: AlertKind) -> SecurityAlert:
    alert, action = payload.get("alert"), text(payload.get("action"))
    number, repository = dig(alert, "number"), text(dig(payload, "repository", "full_name"))
    if not isinstance(alert, dict) or not isinstance(number, int) or repository is None or action is None:
        raise ParseError(f"{kind} payload without alert.number, action or repository.full_name")
    title = (
        text(alert.get("secret_type_display_name"))
        or text(alert.get("secret_type"))
        or text(dig(alert, "security_advisory", "summary"))
        or text(dig(alert, "rule", "description"))
        or text(dig(alert, "rule", "id"))
        or kind.value
    )
    return SecurityAlert(
        kind=kind,
        action=action,
        repository=repository,
        number=number,
        severity=_alert_severity(kind, alert),
        title=title,
        url=text(alert.get("html_url")),
        at=when(alert.get("updated_at")) or when(alert.get("created_at")),
    )


@dataclass(frozen=True)
class PullRequest:
    action: str
    number: int
    repository: str | None
    url: str
    branch: str | None
    title: str
    body: str | None
    draft: bool
    merged: bool
    merge_commit_sha: str | None
    created_at: datetime | None
    merged_at: datetime | None

    @property
    def identifiers(self) -> tuple[str, ...]:
        return linear_identifiers(self.branch, self.title, self.body)

    def identifiers_of(self, known_keys: frozenset[str]) -> tuple[str, ...]:
        """The Linear identifiers it names, of the known teams only."""
        return linear_identifiers(self.branch, self.title, self.body, known_keys=known_keys)


def parse_pull_request(payload: dict[str, Any]) -> PullRequest:
    pr = payload.get("pull_request")
    url = text(dig(pr, "html_url"))
    action = text(payload.get("action"))
    if not isinstance(pr, dict) or url is None or action is None:
        raise ParseError("pull_request payload without pull_request.html_url or action")
    number = pr.get("number")
    return PullRequest(
        action=action,
        number=number if isinstance(number, int) else 0,
        repository=text(dig(payload, "repository", "full_name")),
        url=url,
        branch=text(dig(pr, "head", "ref")),
        title=text(pr.get("title")) or "",
        body=pr.get("body") if isinstance(pr.get("body"), str) else None,
        draft=pr.get("draft") is True,
        merged=pr.get("merged") is True,
        merge_commit_sha=text(pr.get("merge_commit_sha")),
        created_at=when(pr.get("created_at")),
        merged_at=when(pr.get("merged_at")),
    )
