"""GitHub payloads parsed into small typed events (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from integrations.webhooks.fields import dig, text, when

FAILED = frozenset({"failure", "timed_out", "startup_failure"})
SUCCEEDED = frozenset({"success"})
# A Linear identifier: team key, dash, number (ENG-123); branches carry it in lower case (eng-123-fix).
IDENTIFIER = re.compile(r"(?<![A-Za-z0-9])([A-Za-z][A-Za-z0-9]{0,9})-(\d{1,7})(?![A-Za-z0-9])")


class ParseError(ValueError):
    pass


def linear_identifiers(*texts: str | None) -> tuple[str, ...]:
    """Every ``KEY-123`` named in the texts, upper-cased, first mention first, each once."""
    found: dict[str, None] = {}
    for chunk in texts:
        for key, number in IDENTIFIER.findall(chunk or ""):
            found.setdefault(f"{key.upper()}-{int(number)}", None)
    return tuple(found)


@dataclass(frozen=True)
class WorkflowRun:
    run_id: str
    repository: str
    workflow: str
    branch: str | None
    default_branch: str | None
    conclusion: str | None
    url: str | None
    head_sha: str | None
    completed_at: datetime | None

    @property
    def key(self) -> str:
        """The ci_failure incident key: repository, workflow and branch."""
        return f"{self.repository}:{self.workflow}:{self.branch}"

    @property
    def on_default_branch(self) -> bool:
        return self.branch is not None and self.branch == self.default_branch

    @property
    def failed(self) -> bool:
        return self.conclusion in FAILED

    @property
    def succeeded(self) -> bool:
        return self.conclusion in SUCCEEDED

    def details(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "conclusion": self.conclusion,
            "url": self.url,
            "head_sha": self.head_sha,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }


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
