"""CPU time from /proc: of one process, and of a PostgreSQL server (the postmaster, its live backends and
the exited ones it reaped). Per delivery, this is steadier than a rate on a shared 2-core machine."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg

TICK = os.sysconf("SC_CLK_TCK")


def _fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # from field 3 (state) on


def process_s(pid: int) -> float:
    """User + system seconds of ``pid``; 0 when it is gone."""
    try:
        f = _fields(pid)
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / TICK


def server_s(postmaster: int) -> float:
    """User + system seconds of a PostgreSQL server: the postmaster, its reaped children, its live ones."""
    try:
        f = _fields(postmaster)
    except OSError:
        return 0.0
    total = sum(int(x) for x in f[11:15]) / TICK
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                child = _fields(int(entry.name))
            except OSError:
                continue
            if int(child[1]) == postmaster:
                total += (int(child[11]) + int(child[12])) / TICK
    return total


async def postmaster_of(dsn: str) -> int | None:
    """The server's postmaster pid, when the server runs on this machine (None otherwise)."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(_fields(int(await conn.fetchval("SELECT pg_backend_pid()")))[1])
    except OSError:
        return None
    finally:
        await conn.close()
