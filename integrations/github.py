"""The GitHub REST API through PyGithub (on GITHUB_API_URL), called off the event loop from outbox handlers."""

from __future__ import annotations

import asyncio

from github import Auth, Github, GithubException, RateLimitExceededException

from config import Config
from jobs.outbox import Context, RetryLater

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


async def pull_request_files(ctx: Context, repo: str, number: int) -> list[tuple[str, str]]:
    """(filename, status) of every file pull request ``number`` of ``owner/name`` changed, all pages."""
    gh = client(ctx)
    try:
        return await asyncio.to_thread(_files, gh, repo, number)
    except RateLimitExceededException as exc:
        reset = (exc.headers or {}).get("retry-after") or 60
        raise RetryLater(float(reset), f"GitHub rate limited: {exc.status}") from exc
    except GithubException as exc:
        if exc.status == 403 and "rate limit" in str(exc.data).lower():
            raise RetryLater(60, "GitHub rate limited") from exc
        raise
