"""The GitHub REST API through PyGithub (on GITHUB_API_URL), called off the event loop from outbox handlers."""

from __future__ import annotations

import asyncio
import time

from github import Auth, Github, GithubException, RateLimitExceededException

from config import Config
from jobs.outbox import Context, Permanent, RetryLater

TIMEOUT_S = 15
PER_PAGE = 100


def make_client(config: Config) -> Github:
    """PyGithub on GITHUB_API_URL with GITHUB_TOKEN; its own retries off (the outbox retries)."""
    auth = Auth.Token(config.github_token) if config.github_token else None
    return Github(auth=auth, base_url=config.github_api_url, timeout=TIMEOUT_S, per_page=PER_PAGE, retry=None)


def client(ctx: Context) -> Github:
    """The outbox's shared client; RetryLater while GITHUB_TOKEN is unset."""
    if ctx.config.github_token is None:
        raise RetryLater(300, "GITHUB_TOKEN is not set: GitHub look-ups wait in the outbox")
    if "github" not in ctx.clients:
        ctx.clients["github"] = make_client(ctx.config)
    found: Github = ctx.clients["github"]
    return found


def _files(gh: Github, repo: str, number: int) -> list[tuple[str, str]]:
    pull = gh.get_repo(repo).get_pull(number)
    return [(f.filename, f.status) for f in pull.get_files()]


def retry_after_s(headers: dict[str, str] | None, now: float) -> float:
    """How long GitHub asks us to wait: ``Retry-After``, else until ``X-RateLimit-Reset``, else a minute."""
    h = {k.lower(): str(v) for k, v in (headers or {}).items()}
    if h.get("retry-after", "").isdigit():
        return float(h["retry-after"])
    if h.get("x-ratelimit-remaining") == "0" and h.get("x-ratelimit-reset", "").isdigit():
        return max(1.0, float(h["x-ratelimit-reset"]) - now)
    return 60.0


async def pull_request_files(ctx: Context, repo: str, number: int) -> list[tuple[str, str]]:
    """(filename, status) of every file pull request ``number`` of ``owner/name`` changed, all pages.
    A rate limit (403 with GitHub's rate-limit message, or 429) becomes RetryLater; another 4xx (a missing
    repository, bad credentials) is permanent; 5xx and network errors are retried with backoff."""
    gh = client(ctx)
    try:
        return await asyncio.to_thread(_files, gh, repo, number)
    except GithubException as exc:
        if isinstance(exc, RateLimitExceededException) or exc.status == 429:
            wait = retry_after_s(exc.headers, time.time())
            raise RetryLater(wait, f"GitHub rate limited ({exc.status}) for {repo}#{number}") from exc
        if 400 <= exc.status < 500:
            raise Permanent(f"GitHub refused {repo}#{number}: HTTP {exc.status}") from exc
        raise
