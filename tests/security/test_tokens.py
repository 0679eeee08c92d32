"""The agents' API tokens: case-insensitive scheme, typed claims, audience, maximum lifetime, and
Supabase's asymmetric signing keys (ES256, RS256) from a JWKS server on loopback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.conftest import JWT_SECRET, token

PROBE = "/api/v1/config"


def _hs256(**claims: Any) -> dict[str, str]:
    payload = {"role": "service_role", "exp": int(time.time()) + 300, **claims}
    return {"Authorization": "Bearer " + jwt.encode(payload, JWT_SECRET, algorithm="HS256")}


async def _status(client: TestClient[Any, Any], headers: dict[str, str]) -> int:
    response = await client.get(PROBE, headers=headers)
    assert response.status < 500, await response.text()
    return response.status


async def test_the_scheme_is_case_insensitive(client: TestClient[Any, Any]) -> None:
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        assert await _status(client, {"Authorization": f"{scheme} {token()}"}) == 200, scheme
    for header in ("Basic abc", "Bearer", "Bearer ", "Token " + token(), "Bearer é" + token()):
        assert await _status(client, {"Authorization": header}) == 401, header


@pytest.mark.parametrize("role", [["service_role"], {"role": "service_role"}, 1, None, True])
async def test_a_claim_of_the_wrong_type_is_a_401(client: TestClient[Any, Any], role: Any) -> None:
    assert await _status(client, _hs256(role=role)) == 401
    assert await _status(client, _hs256(sub=["someone"])) == 401


async def test_a_role_that_is_not_ours_is_a_403(client: TestClient[Any, Any]) -> None:
    assert await _status(client, _hs256(role="anon")) == 403


async def test_lifetime_is_bounded(app_factory: Callable[..., Any]) -> None:
    client = await app_factory(jwt_max_lifetime_s=3600)
    now = int(time.time())
    assert await _status(client, _hs256(iat=now, exp=now + 3600)) == 200
    assert await _status(client, _hs256(iat=now, exp=now + 3601)) == 401
    assert await _status(client, _hs256(exp=now + 3500)) == 200, "without iat: exp - now"
    assert await _status(client, _hs256(exp=now + 10 * 365 * 86400)) == 401
    assert await _status(client, _hs256(iat=now - 7200, exp=now + 60)) == 401, "issued for longer than allowed"
    assert await _status(client, _hs256(exp=now - 5)) == 401


async def test_the_default_lifetime_is_a_day(client: TestClient[Any, Any]) -> None:
    now = int(time.time())
    assert await _status(client, _hs256(iat=now, exp=now + 86400)) == 200
    assert await _status(client, _hs256(iat=now, exp=now + 86401)) == 401


async def test_the_audience_is_checked_when_set(app_factory: Callable[..., Any], client: TestClient[Any, Any]) -> None:
    assert await _status(client, _hs256(aud="anyone")) == 200, "without JWT_AUDIENCE aud is not checked"
    strict = await app_factory(jwt_audience="authenticated")
    assert await _status(strict, _hs256(aud="authenticated")) == 200
    assert await _status(strict, _hs256(aud=["other", "authenticated"])) == 200
    assert await _status(strict, _hs256(aud="someone-else")) == 401
    assert await _status(strict, _hs256()) == 401, "a token without aud"


async def test_unsigned_and_foreign_tokens_are_refused(client: TestClient[Any, Any]) -> None:
    claims = {"role": "service_role", "exp": int(time.time()) + 60}
    unsigned = jwt.encode(claims, None, algorithm="none")
    forged = jwt.encode(claims, "x" * 40, algorithm="HS256")
    for credential in (unsigned, forged, "not.a.jwt", "a" * 8000, "eyJ.eyJ.x"):
        assert await _status(client, {"Authorization": f"Bearer {credential}"}) == 401


@dataclass
class Jwks:
    url: str = ""
    keys: dict[str, Any] = field(default_factory=dict)  # kid -> private key
    published: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0

    def add(self, kid: str, alg: str) -> None:
        if alg == "ES256":
            private: Any = ec.generate_private_key(ec.SECP256R1())
            jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
        else:
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
        self.keys[kid] = private
        self.published.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})

    def sign(self, kid: str, alg: str, **claims: Any) -> dict[str, str]:
        payload = {"role": "authenticated", "sub": "user-1", "exp": int(time.time()) + 300, **claims}
        encoded = jwt.encode(payload, self.keys[kid], algorithm=alg, headers={"kid": kid})
        return {"Authorization": f"Bearer {encoded}"}

    async def serve(self, request: web.Request) -> web.Response:
        self.fetches += 1
        return web.json_response({"keys": self.published})


@pytest.fixture
async def jwks() -> AsyncIterator[Jwks]:
    served = Jwks()
    served.add("es-key", "ES256")
    served.add("rs-key", "RS256")
    app = web.Application()
    app.router.add_get("/auth/v1/.well-known/jwks.json", served.serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    served.url = str(server.make_url("/auth/v1/.well-known/jwks.json"))
    yield served
    await server.close()


async def test_es256_and_rs256_tokens_from_a_jwks_url(app_factory: Callable[..., Any], jwks: Jwks) -> None:
    client = await app_factory(jwt_jwks_url=jwks.url)
    for kid, alg in (("es-key", "ES256"), ("rs-key", "RS256")):
        response = await client.get("/api/v1/events", headers=jwks.sign(kid, alg))
        assert response.status == 200, (alg, await response.text())
    assert jwks.fetches == 1, "the key set is cached"
    assert await _status(client, _hs256()) == 200, "HS256 with JWT_SECRET still works beside it"


async def test_jwks_tokens_that_do_not_fit_are_refused(app_factory: Callable[..., Any], jwks: Jwks) -> None:
    client = await app_factory(jwt_jwks_url=jwks.url)
    assert await _status(client, jwks.sign("es-key", "ES256")) == 200
    other = Jwks()
    other.add("es-key", "ES256")
    assert await _status(client, other.sign("es-key", "ES256")) == 401, "signed by a key not in the set"
    other.add("unknown-kid", "ES256")
    for _ in range(5):
        assert await _status(client, other.sign("unknown-kid", "ES256")) == 401
    assert jwks.fetches <= 2, "made-up kids do not make us fetch the key set each time"
    mismatched = jwks.sign("es-key", "ES256")
    _, payload, signature = mismatched["Authorization"].removeprefix("Bearer ").split(".")
    rs_header = jwt.utils.base64url_encode(b'{"alg":"RS256","kid":"es-key","typ":"JWT"}').decode()
    assert await _status(client, {"Authorization": f"Bearer {rs_header}.{payload}.{signature}"}) == 401


async def test_an_unreachable_jwks_url_is_a_503_not_a_500(app_factory: Callable[..., Any], jwks: Jwks) -> None:
    client = await app_factory(jwt_jwks_url="http://127.0.0.1:9/nothing-listens-here", jwt_secret=None)
    response = await client.get(PROBE, headers=jwks.sign("es-key", "ES256"))
    assert response.status == 503, await response.text()
    assert await _status(client, _hs256()) == 401, "without JWT_SECRET an HS256 token is not accepted"
