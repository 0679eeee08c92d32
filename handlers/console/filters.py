"""Jinja filters for the console's templates: times, ages and durations people read at 3 a.m. Pure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jinja2


def when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(value: timedelta | None) -> str:
    """A duration as the two largest units: ``3 h 12 min``, ``45 s``."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes} min"
    if minutes:
        return f"{sign}{minutes} min {secs} s"
    return f"{sign}{secs} s"


def until(value: datetime | None, now: datetime) -> str:
    return "" if value is None else age(value - now)


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def register(env: jinja2.Environment) -> None:
    env.filters.update(when=when, age=age, pretty=pretty)
    env.globals.update(until=until)
