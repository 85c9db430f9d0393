"""Tokens signed by an OIDC issuer's keys (RS256, ES256), found through discovery on a real
local HTTP server: cached, fetched again on key rotation, never more often than allowed for
made-up key ids, and kept when the issuer is down for a while."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from streamsuite_common.auth import AuthSettings
from streamsuite_common.auth.jwks import KeySet
from streamsuite_common.auth.tokens import TokenVerifier, Unauthorized


class Issuer:
    """An OIDC issuer on 127.0.0.1: discovery document, key set, and a count of fetches."""

    def __init__(self):
        self.keys: dict[str, object] = {}  # kid -> private key
        self.fetches = 0
        self.down = False
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if issuer.down:
                    self.send_error(503)
                    return
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/keys"}
                elif self.path == "/keys":
                    issuer.fetches += 1
                    body = {"keys": [issuer.public_jwk(kid) for kid in issuer.keys]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def public_jwk(self, kid: str) -> dict:
        key = self.keys[kid]
        algorithm = (
            jwt.algorithms.RSAAlgorithm if kid.startswith("rsa") else jwt.algorithms.ECAlgorithm
        )
        jwk = json.loads(algorithm.to_jwk(key.public_key()))
        return {**jwk, "kid": kid, "use": "sig"}

    def add_key(self, kid: str) -> None:
        if kid.startswith("rsa"):
            self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.keys[kid] = ec.generate_private_key(ec.SECP256R1())

    def token(self, kid: str, *, key_of: str | None = None, **claims: object) -> str:
        body = {"sub": "ada", "aud": "streamsuite", "iss": self.url, "scope": "read",
                "exp": int(time.time()) + 300, **claims}  # fmt: skip
        algorithm = "RS256" if kid.startswith("rsa") else "ES256"
        return jwt.encode(body, self.keys[key_of or kid], algorithm=algorithm,
                          headers={"kid": kid})  # fmt: skip


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    made = Issuer()
    made.add_key("rsa-1")
    made.add_key("ec-1")
    thread = threading.Thread(target=made.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield made
    finally:
        made.server.shutdown()
        made.server.server_close()


def verifier(issuer: Issuer, keys: KeySet) -> TokenVerifier:
    return TokenVerifier(AuthSettings(issuer=issuer.url), keys)


def test_rs256_and_es256_tokens_verify_with_discovered_keys(issuer):
    keys = KeySet(issuer=issuer.url, min_refresh_s=0)
    check = verifier(issuer, keys)
    assert check.verify(issuer.token("rsa-1")).subject == "ada"
    assert check.verify(issuer.token("ec-1", sub="bo")).subject == "bo"
    assert issuer.fetches == 1  # cached


def test_a_token_signed_by_another_key_with_a_known_kid_is_refused(issuer):
    issuer.add_key("rsa-other")
    forged = issuer.token("rsa-1", key_of="rsa-other")
    del issuer.keys["rsa-other"]
    with pytest.raises(Unauthorized, match="signature does not verify"):
        verifier(issuer, KeySet(issuer=issuer.url)).verify(forged)


def test_a_rotated_key_is_fetched_and_made_up_kids_do_not_hammer_the_issuer(issuer):
    now = [1000.0]
    keys = KeySet(jwks_url=f"{issuer.url}/keys", min_refresh_s=30, clock=lambda: now[0])
    check = verifier(issuer, keys)
    check.verify(issuer.token("rsa-1"))
    assert issuer.fetches == 1
    issuer.add_key("rsa-2")  # the issuer rotates
    now[0] += 31
    assert check.verify(issuer.token("rsa-2")).subject == "ada"
    assert issuer.fetches == 2
    for n in range(20):  # unknown kids: refused, at most one fetch per min_refresh_s
        with pytest.raises(Unauthorized, match="not one of the issuer's"):
            check.verify(jwt.encode({"sub": "x"}, issuer.keys["rsa-1"], algorithm="RS256",
                                    headers={"kid": f"made-up-{n}"}))  # fmt: skip
    assert issuer.fetches == 2
    now[0] += 31
    with pytest.raises(Unauthorized):
        check.verify(jwt.encode({"sub": "x"}, issuer.keys["rsa-1"], algorithm="RS256",
                                headers={"kid": "made-up"}))  # fmt: skip
    assert issuer.fetches == 3


def test_the_keys_held_stay_in_use_while_the_issuer_is_down(issuer):
    now = [0.0]
    keys = KeySet(issuer=issuer.url, cache_s=60, min_refresh_s=0, clock=lambda: now[0])
    check = verifier(issuer, keys)
    check.verify(issuer.token("ec-1"))
    issuer.down = True
    now[0] += 120  # cache expired, the fetch fails
    assert check.verify(issuer.token("ec-1")).subject == "ada"


def test_a_token_from_another_issuer_is_refused(issuer):
    keys = KeySet(issuer=issuer.url)
    with pytest.raises(Unauthorized, match="another issuer"):
        verifier(issuer, keys).verify(issuer.token("rsa-1", iss="https://evil.example"))
