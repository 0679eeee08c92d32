"""Every background task of the process runs here: restarted with backoff when it crashes, its state kept.

A component is a coroutine factory: the LISTEN hub, the outbox worker, each scheduler job loop, the
Slack Socket Mode connect. When the coroutine raises, the crash is logged with its traceback, the
component is ``restarting`` for the backoff, then runs again; one that returns is ``finished`` (a
one-shot like the Socket Mode connect). ``/readyz`` reads ``report()``: a critical component that is not
``running`` (or whose own probe says it is not ready, as the hub while it is not listening) makes the
replica unready, naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import logs

FIRST_BACKOFF_S = 0.2
MAX_BACKOFF_S = 10.0
STABLE_S = 60.0  # a run that lasted this long resets the backoff


class State(StrEnum):
    RUNNING = "running"
    RESTARTING = "restarting"
    FINISHED = "finished"
    STOPPED = "stopped"


@dataclass
class Component:
    name: str
    factory: Callable[[], Awaitable[object]]
    critical: bool = True
    probe: Callable[[], dict[str, Any]] | None = None  # {"ready": bool, ...details}
    state: State = State.RUNNING
    restarts: int = 0
    last_error: str | None = None
    since: float = field(default_factory=time.time)
    task: asyncio.Task[None] | None = None

    def ready(self) -> tuple[bool, dict[str, Any]]:
        details: dict[str, Any] = {"state": self.state.value, "restarts": self.restarts, "critical": self.critical}
        if self.last_error is not None:
            details["last_error"] = self.last_error
        ok = self.state in (State.RUNNING, State.FINISHED)
        if ok and self.probe is not None:
            probed = self.probe()
            ok = bool(probed.pop("ready"))
            details.update(probed)
        details["ready"] = ok
        return ok, details


class Supervisor:
    def __init__(self) -> None:
        self.components: dict[str, Component] = {}

    def start(
        self,
        name: str,
        factory: Callable[[], Awaitable[object]],
        *,
        critical: bool = True,
        probe: Callable[[], dict[str, Any]] | None = None,
    ) -> Component:
        if name in self.components and self.components[name].state != State.STOPPED:
            raise ValueError(f"component started twice: {name}")
        component = Component(name, factory, critical=critical, probe=probe)
        component.task = asyncio.create_task(self._run(component), name=name)
        self.components[name] = component
        return component

    async def _run(self, c: Component) -> None:
        backoff = FIRST_BACKOFF_S
        while True:
            c.state, c.since = State.RUNNING, time.time()
            try:
                await c.factory()
            except asyncio.CancelledError:
                c.state = State.STOPPED
                raise
            except Exception as exc:
                c.last_error = repr(exc)[:500]
                if time.time() - c.since > STABLE_S:
                    backoff = FIRST_BACKOFF_S
                c.state, c.since = State.RESTARTING, time.time()
                c.restarts += 1
                delay = backoff * random.uniform(0.8, 1.2)
                logs.event(
                    "supervisor.crashed",
                    logging.ERROR,
                    exc_info=True,
                    component=c.name,
                    restarts=c.restarts,
                    restart_in_s=round(delay, 3),
                )
                await asyncio.sleep(delay)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                logs.event("supervisor.restarting", component=c.name, restarts=c.restarts)
            else:
                c.state, c.since = State.FINISHED, time.time()
                logs.event("supervisor.finished", component=c.name)
                return

    def report(self) -> tuple[list[str], dict[str, dict[str, Any]]]:
        """The critical components that are not ready, and every component's details."""
        down: list[str] = []
        details: dict[str, dict[str, Any]] = {}
        for name, component in self.components.items():
            ok, details[name] = component.ready()
            if not ok and component.critical:
                down.append(name)
        return down, details

    async def stop(self, *names: str) -> None:
        """Cancel the named components (all when none is named) and wait for them to end."""
        chosen = [self.components[n] for n in names] if names else list(self.components.values())
        for c in chosen:
            if c.task is not None:
                c.task.cancel()
        for c in chosen:
            if c.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await c.task
            c.state = State.STOPPED
