"""Past automation_analytics periods from the GitHub API (PyGithub, synchronous: run it in a thread).

The GitHub side of a period follows the rules of domain/metrics/analytics.py, with the API timestamps instead of
delivery times: a PR counts in the period of its ``created_at``, a merge in that of ``merged_at``, an AI
review in that of ``submitted_at`` (issues: CHANGES_REQUESTED reviews and inline comments by the AI
logins, critical by the same pattern), a completed workflow run in that of its ``created_at``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from github import Auth, Github

from integrations.github.payloads import FAILED as FAILED_CONCLUSIONS


@dataclass
class Tally:
    prs_total: int = 0
    prs_merged: int = 0
    claude_reviews: int = 0
    claude_issues_found: int = 0
    claude_critical_issues: int = 0
    ci_runs: int = 0
    ci_failures: int = 0
    reviewed: set[tuple[str, int]] = field(default_factory=set)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def count(
    api_url: str,
    token: str | None,
    repositories: Sequence[str],
    reviewers: Sequence[str],
    periods: Sequence[tuple[datetime, datetime]],
    is_critical: Callable[[str | None], bool],
    *,
    throttle_s: float | None = 0.25,
) -> dict[datetime, Tally]:
    """Tallies per period start for ``periods`` (each [start, end)); ``throttle_s`` spaces the requests."""
    gh = Github(
        base_url=api_url,
        auth=Auth.Token(token) if token else None,
        per_page=100,
        seconds_between_requests=throttle_s,
    )
    tallies: dict[datetime, Tally] = defaultdict(Tally)
    earliest = min(start for start, _ in periods)

    def period_of(at: datetime | None) -> datetime | None:
        at = _utc(at)
        if at is None:
            return None
        return next((start for start, end in periods if start <= at < end), None)

    logins = set(reviewers)
    for full_name in repositories:
        repo = gh.get_repo(full_name)
        for pr in repo.get_pulls(state="all", sort="created", direction="desc"):
            created = _utc(pr.created_at)
            if created is not None and created < earliest:
                break
            if (p := period_of(pr.created_at)) is not None:
                tallies[p].prs_total += 1
            if pr.merged_at is not None and (p := period_of(pr.merged_at)) is not None:
                tallies[p].prs_merged += 1
            for review in pr.get_reviews():
                if review.user is None or review.user.login not in logins:
                    continue
                if (p := period_of(review.submitted_at)) is None:
                    continue
                tallies[p].claude_reviews += 1
                tallies[p].reviewed.add((full_name, pr.number))
                if (review.state or "").upper() == "CHANGES_REQUESTED":
                    tallies[p].claude_issues_found += 1
                    tallies[p].claude_critical_issues += is_critical(review.body)
            for comment in pr.get_review_comments():
                if comment.user is None or comment.user.login not in logins:
                    continue
                if (p := period_of(comment.created_at)) is not None:
                    tallies[p].claude_issues_found += 1
                    tallies[p].claude_critical_issues += is_critical(comment.body)
        for run in repo.get_workflow_runs(created=f">={earliest.date().isoformat()}"):
            if run.status != "completed" or (p := period_of(run.created_at)) is None:
                continue
            tallies[p].ci_runs += 1
            tallies[p].ci_failures += run.conclusion in FAILED_CONCLUSIONS
    return dict(tallies)
