"""Coding requests: filed from Slack or Linear, followed through GitHub to merge."""

from __future__ import annotations

from jobs.wiring import Wiring


def setup(wiring: Wiring) -> None:
    from domain.coding_requests import callbacks, enrich, outbound  # here, so importing a pure module stays pure

    callbacks.register(wiring.router)
    wiring.outbox_handlers(outbound.OUTBOX)
    wiring.outbox_handlers(enrich.OUTBOX)
