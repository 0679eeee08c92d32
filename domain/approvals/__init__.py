"""Approval requests: risky agent actions decided by a human in Slack, then the waiting agent resumed."""

from __future__ import annotations

from jobs.wiring import Wiring


def setup(wiring: Wiring) -> None:
    from domain.approvals import slack, store, watch  # here, so that importing a pure module stays pure

    wiring.outbox_handlers(slack.OUTBOX)
    wiring.job(store.EXPIRE_JOB)
    wiring.job(watch.ESCALATE_JOB)
