"""The baselines the service is measured against, each a bare aiohttp server on the same machine.

    python -m bench.baseline b0|b1|b2 --port P [--dsn postgresql://...]

B0: answers 200 to every POST /webhooks/{source}.
B1: B0 + the sender's HMAC-SHA256 check over the raw body + JSON parse.
B2: B1 + one durable single-row INSERT (asyncpg, synchronous_commit on), a repeat answered as such.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json

import asyncpg
from aiohttp import web

from bench.mix import SECRETS

SIGNATURE = {"sentry": "Sentry-Hook-Signature", "github": "X-Hub-Signature-256", "linear": "Linear-Signature"}
DELIVERY = {"sentry": "Request-ID", "github": "X-GitHub-Delivery", "linear": "Linear-Delivery"}
TABLE = """
CREATE TABLE IF NOT EXISTS bench_deliveries (
    source text NOT NULL, delivery_id text NOT NULL, body bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (source, delivery_id)
)
"""
INSERT = """
INSERT INTO bench_deliveries (source, delivery_id, body) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING RETURNING 1
"""
POOL = web.AppKey("pool", asyncpg.Pool)


def verified(request: web.Request, source: str, body: bytes) -> bool:
    given = request.headers.get(SIGNATURE[source], "").removeprefix("sha256=")
    expected = hmac.new(SECRETS[source].encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given, expected)


def build(mode: str, dsn: str | None) -> web.Application:
    async def b0(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    async def b1(request: web.Request) -> web.Response:
        source = request.match_info["source"]
        body = await request.read()
        if not verified(request, source, body):
            return web.json_response({"error": "bad signature"}, status=401)
        json.loads(body)
        return web.json_response({"ok": True, "delivery": request.headers.get(DELIVERY[source])})

    async def b2(request: web.Request) -> web.Response:
        source = request.match_info["source"]
        body = await request.read()
        if not verified(request, source, body):
            return web.json_response({"error": "bad signature"}, status=401)
        json.loads(body)
        delivery = request.headers.get(DELIVERY[source], "")
        stored = await request.app[POOL].fetchval(INSERT, source, delivery, body)
        if stored is None:
            return web.json_response({"ok": True, "duplicate": True, "delivery": delivery})
        return web.json_response({"ok": True, "delivery": delivery})

    async def database(app: web.Application):  # type: ignore[no-untyped-def]
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=10)
        await pool.execute(TABLE)
        app[POOL] = pool
        yield
        await pool.close()

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/webhooks/{source:sentry|github|linear}", {"b0": b0, "b1": b1, "b2": b2}[mode])
    app.router.add_get("/healthz", lambda _: b0_ok())
    if mode == "b2":
        app.cleanup_ctx.append(database)
    return app


async def b0_ok() -> web.Response:
    return web.json_response({"ok": True})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["b0", "b1", "b2"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn")
    args = parser.parse_args()
    web.run_app(build(args.mode, args.dsn), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
