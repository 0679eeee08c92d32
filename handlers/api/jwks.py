"""Asymmetric signing keys (Supabase's ES256/RS256 keys) from a JWKS URL, cached by ``kid``.

PyJWKClient fetches and parses the key set, always in a worker thread (it uses blocking urllib), at
most one fetch at a time per URL and event loop. A known ``kid`` is answered from memory without
leaving the loop; the set is fetched again after ``LIFESPAN_S``, and an unknown ``kid`` may trigger
a fetch at most once per ``COOLDOWN_S`` (tokens with made-up kids cannot make us hammer the endpoint).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

import jwt
from jwt import PyJWK, PyJWKClient

import logs

LIFESPAN_S = 300.0
COOLDOWN_S = 30.0
FETCH_TIMEOUT_S = 5.0
ALGORITHMS = frozenset({"ES256", "RS256"})


class KeysUnavailable(Exception):
    """The JWKS endpoint could not be read and no key for this token is cached (an HTTP 503)."""


class KeySet:
    def __init__(self, url: str) -> None:
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=FETCH_TIMEOUT_S)
        self._keys: dict[str, PyJWK] = {}
        self._fetched = -math.inf
        self._tried = -math.inf
        self._fetching: asyncio.Task[list[PyJWK]] | None = None

    async def _refresh(self) -> None:
        task = self._fetching
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            self._tried = time.monotonic()
            task = asyncio.create_task(asyncio.to_thread(self._client.get_signing_keys, True))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved, even if no one waits
            self._fetching = task
        try:
            async with asyncio.timeout(FETCH_TIMEOUT_S * 2):
                keys = await asyncio.shield(task)
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, TimeoutError) as exc:
            logs.event("api.jwks.fetch_failed", logging.WARNING, error=type(exc).__name__)
            return
        self._keys = {k.key_id: k for k in keys if k.key_id}
        self._fetched = time.monotonic()

    async def key(self, kid: str) -> PyJWK:
        """The signing key named ``kid``. Raises LookupError when the set has none, KeysUnavailable
        when the set could not be fetched at all."""
        now = time.monotonic()
        stale = now - self._fetched > LIFESPAN_S
        if (stale or kid not in self._keys) and now - self._tried > COOLDOWN_S:
            await self._refresh()
        if kid in self._keys:
            return self._keys[kid]
        if self._fetched == -math.inf:
            raise KeysUnavailable("the JWKS endpoint could not be read")
        raise LookupError(f"no signing key {kid[:64]!r} in the key set")


_sets: dict[str, KeySet] = {}


def key_set(url: str) -> KeySet:
    """The one KeySet of ``url`` in this process."""
    found = _sets.get(url)
    if found is None:
        found = _sets[url] = KeySet(url)
    return found
