"""Metrics: hourly ``agent_metrics`` rollups and ``automation_analytics`` per period."""

from __future__ import annotations

from jobs.wiring import Wiring


def setup(wiring: Wiring) -> None:
    from domain.metrics import analytics, rollup  # here, so that importing a pure module stays pure

    wiring.job(rollup.JOB)
    wiring.job(analytics.JOB)
