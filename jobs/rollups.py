"""The periodic rollup jobs (each tick advisory-locked by jobs.scheduler)."""

from __future__ import annotations

from domain import analytics, metrics
from jobs import scheduler

AGENT_METRICS = scheduler.register(scheduler.Job("agent_metrics.rollup", 60.0, metrics.roll_dirty))
AUTOMATION_ANALYTICS = scheduler.register(scheduler.Job("automation_analytics.rollup", 900.0, analytics.roll_current))
