"""Runbooks that learn: incident embeddings, patterns learned from resolutions that held, matching with
four modes (auto, approval, shadow, suggest), outcomes, and autonomy earned and lost on evidence.
Pure parts in ``embedder`` and ``rules``; SQL in ``store``; the job in ``runner``."""

from __future__ import annotations

from jobs.wiring import Wiring


def setup(wiring: Wiring) -> None:
    from domain.runbooks import audit, runner  # here, so that importing a pure module stays pure

    wiring.outbox_handlers(audit.OUTBOX)
    wiring.job(runner.JOB)
