"""Incidents: Sentry issues and CI failures as incidents, their fix timeline, Sentry-to-Linear mappings, and
what Slack and Linear are told. Rules in ``rules``, SQL in ``store`` and the per-table modules."""

from __future__ import annotations

from jobs.wiring import Wiring


def setup(wiring: Wiring) -> None:
    from domain.incidents import callbacks, linear_sync, slack  # here, so that importing a pure module stays pure

    callbacks.register(wiring.router)
    wiring.outbox_handlers(slack.OUTBOX)
    wiring.outbox_handlers(linear_sync.OUTBOX)
