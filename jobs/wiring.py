"""What each domain concept registers in its ``setup``: webhook callbacks, outbox handlers, periodic jobs.

``app.py`` makes one ``Wiring``, hands it to every concept's ``setup`` in a visible list, then gives its
parts to the inbox, the outbox worker and the scheduler. Nothing registers itself by being imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from config import Config
from jobs.outbox import Handler
from jobs.routing import Router
from jobs.scheduler import Job


@dataclass
class Wiring:
    router: Router = field(default_factory=Router)
    outbox: dict[str, Handler] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)
    # The service's configuration, for jobs that call outside systems (the sweeper); defaults when unset.
    config: Config = field(default_factory=Config)

    def outbox_handlers(self, handlers: Mapping[str, Handler]) -> None:
        clash = self.outbox.keys() & handlers.keys()
        if clash:
            raise ValueError(f"outbox kinds registered twice: {sorted(clash)}")
        self.outbox.update(handlers)

    def job(self, job: Job) -> None:
        if any(j.name == job.name for j in self.jobs):
            raise ValueError(f"job registered twice: {job.name}")
        self.jobs.append(job)
