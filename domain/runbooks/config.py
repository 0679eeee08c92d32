"""The runbooks' settings (seeded by migration 0800), read in one query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

READ = "SELECT config_key, config_value FROM agent_swarm_config WHERE config_key LIKE 'runbooks.%'"
DEFAULT_THRESHOLDS = {"lexical": 0.88, "e5": 0.99}


@dataclass(frozen=True)
class Settings:
    embedder: str = "lexical"
    thresholds: dict[str, float] | None = None
    learn_after_s: int = 86400
    auto_lower_bound: float = 0.8
    executor_agent: str = "runbook-executor"
    promotion_min_incidents: int = 10
    promotion_min_agreement: float = 0.9

    @property
    def threshold(self) -> float:
        return {**DEFAULT_THRESHOLDS, **(self.thresholds or {})}.get(self.embedder, DEFAULT_THRESHOLDS["lexical"])


async def read(conn: asyncpg.Connection | asyncpg.Pool) -> Settings:
    values: dict[str, Any] = {r["config_key"]: r["config_value"] for r in await conn.fetch(READ)}
    promotion = values.get("runbooks.promotion") or {}
    d = Settings()
    return Settings(
        embedder=values.get("runbooks.embedder") or d.embedder,
        thresholds=values.get("runbooks.match_threshold") or dict(DEFAULT_THRESHOLDS),
        learn_after_s=int(values.get("runbooks.learn_after", d.learn_after_s)),
        auto_lower_bound=float(values.get("runbooks.auto_lower_bound", d.auto_lower_bound)),
        executor_agent=values.get("runbooks.executor_agent") or d.executor_agent,
        promotion_min_incidents=int(promotion.get("min_incidents", d.promotion_min_incidents)),
        promotion_min_agreement=float(promotion.get("min_agreement", d.promotion_min_agreement)),
    )
