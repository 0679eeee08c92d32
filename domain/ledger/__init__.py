"""The agents' ledger: the audit trail (``agent_actions``) and costs (``agent_costs``) with daily budgets."""

from __future__ import annotations

from jobs.wiring import Wiring


def setup(wiring: Wiring) -> None:
    from domain.ledger import costs  # here, so that importing a pure module stays pure

    wiring.outbox_handlers(costs.OUTBOX)
