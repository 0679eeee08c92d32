"""``python app.py console-link`` and ``python app.py demo``, run as people run them, against the real app."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

from handlers.keys import POOL, WIRING
from jobs import inbox_worker
from tests.console.conftest import Console
from tests.integration.webhooks.conftest import GITHUB_SECRET, LINEAR_SECRET, SENTRY_SECRET

ROOT = Path(__file__).resolve().parents[2]


async def run(database_url: str, *args: str, **env: str) -> tuple[int, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "GITHUB_", "LINEAR_", "SLACK_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "app.py",
        *args,
        cwd=ROOT,
        env={**base, "DATABASE_URL": database_url, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(60):
        out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_console_link_prints_a_link_that_signs_in_once(console: Console, database_url: str) -> None:
    code, out = await run(database_url, "console-link", PUBLIC_URL=console.base)
    assert code == 0, out
    link = re.search(r"http://\S+/console/link/\S+", out)
    assert link is not None, out
    page = await console.page()
    await page.goto(link.group(0))
    assert page.url == f"{console.base}/console"
    again = await (await console.page()).goto(link.group(0))
    assert again is not None and again.status == 403


async def test_demo_says_which_secrets_to_set(database_url: str) -> None:
    code, out = await run(database_url, "demo")
    assert code == 2
    assert "SENTRY_CLIENT_SECRET, GITHUB_WEBHOOK_SECRET, LINEAR_WEBHOOK_SECRET" in out


async def test_demo_populates_the_console_through_the_signed_endpoints(app_factory: Any, database_url: str) -> None:
    secrets = {
        "sentry_client_secret": SENTRY_SECRET,
        "github_webhook_secret": GITHUB_SECRET,
        "linear_webhook_secret": LINEAR_SECRET,
    }
    client = await app_factory(**secrets)
    env = {k.upper(): v for k, v in secrets.items()}
    code, out = await run(database_url, "demo", "--url", str(client.make_url("")).rstrip("/"), **env)
    assert code == 0, out
    assert out.count("200\tPOST") + out.count("202\tPOST") == 6, out
    db = client.app[POOL]
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 6
    await inbox_worker.drain(db, client.app[WIRING].router)  # what the inbox workers of a served app do
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries WHERE status = 'failed'") == 0
    assert await db.fetchval("SELECT count(*) FROM infrastructure_incidents") >= 1
    assert await db.fetchval("SELECT count(*) FROM approval_requests WHERE status = 'pending'") == 1
    assert await db.fetchval("SELECT count(*) FROM coding_requests WHERE source = 'demo'") == 1
