"""`python app.py reembed`: every incident and pattern embedded again with the configured embedder."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

import app as app_module
from domain.runbooks import embedder


def test_reembed_rewrites_every_embedding_and_records_the_model(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def prepare() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("TRUNCATE infrastructure_incidents, runbook_patterns CASCADE")
            for n in range(3):
                await conn.execute(
                    "INSERT INTO infrastructure_incidents (severity, incident_type, source, title, embedding) "
                    "VALUES ('low', 'application_error', 'sentry', $1, array_fill(0.5, ARRAY[384])::vector)",
                    f"KeyError: 'k{n}'",
                )
        finally:
            await conn.close()

    async def fetch() -> tuple[list[list[float]], str]:
        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch("SELECT embedding::real[] AS e FROM infrastructure_incidents")
            return [list(r["e"]) for r in rows], await conn.fetchval("SELECT model FROM runbook_embedder_state")
        finally:
            await conn.close()

    asyncio.run(prepare())
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert app_module.main(["reembed"]) == 0
    assert "re-embedded 3 row(s) with lexical-v1" in capsys.readouterr().err
    vectors, model = asyncio.run(fetch())
    expected = embedder.embed_incident({"incident_type": "application_error", "title": "KeyError: 'k0'"})
    assert model == "lexical-v1"
    assert all(embedder.cosine(v, expected) > 0.999 for v in vectors)  # the quoted key is a placeholder
