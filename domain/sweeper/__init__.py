"""The delivery-gap sweeper: what the senders' webhooks never told us, found and healed. GitHub hook
deliveries we never stored are redelivered; Linear and Sentry issue states we missed are applied through
the incidents' domain functions, as their webhooks would have been. Rules in ``rules``, SQL in ``store``.

A concept of its own rather than modules of ``incidents``: it reads across the inbox and the incidents,
owns its tables, job and report, and the GitHub half has nothing to do with incidents."""

from __future__ import annotations

from jobs.wiring import Wiring


def setup(wiring: Wiring) -> None:
    from domain.sweeper import runner  # here, so that importing a pure module stays pure

    wiring.job(runner.job(wiring.config))
