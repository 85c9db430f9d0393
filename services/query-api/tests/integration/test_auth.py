"""Authentication on the query API (issue 17): every API endpoint refuses a request without a
valid read token (401 with WWW-Authenticate), expired, wrong-audience, tampered and unsigned
tokens are refused, probes and metrics stay open, security headers are on every answer and
per-client limits answer 429. Each refusal is an RFC 9457 problem with a code, like every other
error of the API."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from devstack.testing import TEST_JWT_SECRET, bearer, jwt_test_settings
from streamsuite_common.auth import LimitSettings, mint_token

from .conftest import api_config, serving


def _operations(client: httpx.Client, record_id: int) -> list[tuple[str, str, dict]]:
    """(method, path, request options) of every /api operation the service documents."""
    document = _document(client)
    found = []
    for path, operations in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method in operations:
            options: dict = {}
            if method == "post":
                options["json"] = {"key": "name", "value": "Ada"}
            found.append((method.upper(), path.replace("{record_id}", str(record_id)), options))
    # Paths with other parameters (made-up ids) are answered, just not necessarily 200.
    return found


def _document(client: httpx.Client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200  # the description itself is open
    return response.json()


def _problem(response: httpx.Response, status: int, code: str) -> dict:
    """The refusal's problem, checked for its status, content type and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["type"], problem["status"], problem["code"]) == ("about:blank", status, code)
    return problem


def _call(client: httpx.Client, method: str, path: str, headers: dict, **options) -> int:
    if path.endswith("/stream"):  # never ends by itself: the status line is enough
        with client.stream(method, path, headers=headers, **options) as response:
            return response.status_code
    return client.request(method, path, headers=headers, **options).status_code


@pytest.fixture
def secured(reader_settings, schema, filler):
    record_id = filler.add({"name": "Ada", "age": 36})[0]
    with serving(api_config(reader_settings, schema), scopes=()) as client:
        yield client, record_id


def test_every_api_endpoint_needs_a_token(secured):
    client, record_id = secured
    operations = _operations(client, record_id)
    assert {path for _, path, _ in operations} >= {
        "/api/v1/records", f"/api/v1/records/{record_id}", "/api/v1/dead-letters",
        "/api/v1/stats", "/api/v1/stream", "/api/v1/query_unstructured_data",
    }  # fmt: skip
    for method, path, options in operations:
        response = client.request(method, path, **options)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"] == 'Bearer realm="streamsuite"'
        assert _problem(response, 401, "authentication-required") == {
            "type": "about:blank", "title": "Unauthorized", "status": 401,
            "detail": "authentication required: send a bearer token",
            "code": "authentication-required",
        }  # fmt: skip
        status = _call(client, method, path, bearer("read"), **options)
        if "{" in path:
            assert status not in (401, 403), (method, path, status)
        else:
            assert status == 200, (method, path, status)


def test_a_token_without_the_read_scope_is_403(secured):
    client, _ = secured
    response = client.get("/api/v1/records", headers=bearer("submit"))
    problem = _problem(response, 403, "insufficient-scope")
    assert (problem["title"], problem["detail"]) == ("Forbidden", "this needs the 'read' scope")
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert client.get("/api/v1/records", headers=bearer("submit read")).status_code == 200


def _tampered(token: str) -> str:
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["scope"] = "read submit"
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


def _unsigned() -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"sub": "x", "scope": "read", "aud": "streamsuite", "exp": time.time() + 60}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: mint_token(TEST_JWT_SECRET, ["read"], now=time.time() - 7200, ttl_s=3600),
         "the token has expired"),
        (lambda: mint_token(TEST_JWT_SECRET, ["read"], audience="another-api"),
         "the token is not for this audience"),
        (lambda: mint_token(TEST_JWT_SECRET, ["read"], audience=""), "the token has no 'aud'"),
        (lambda: _tampered(mint_token(TEST_JWT_SECRET, ["read"])),
         "the token's signature does not verify"),
        (lambda: mint_token("another-secret-of-at-least-32-bytes!", ["read"]),
         "the token's signature does not verify"),
        (_unsigned, "algorithm 'none' is not accepted"),
        (lambda: "not-a-jwt", "not a JWT"),
    ],
    ids=["expired", "wrong-audience", "no-audience", "tampered", "other-secret", "alg-none",
         "garbage"],
)  # fmt: skip
def test_bad_tokens_are_refused(secured, token, reason):
    client, _ = secured
    response = client.get("/api/v1/records", headers={"Authorization": f"Bearer {token()}"})
    assert reason in _problem(response, 401, "invalid-token")["detail"]
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="streamsuite", error="invalid_token"')


def test_a_basic_credential_is_refused(secured):
    client, _ = secured
    response = client.get("/api/v1/records", auth=("admin", "admin"))
    _problem(response, 401, "invalid-request")
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


def test_probes_metrics_and_the_description_stay_open(secured):
    client, _ = secured
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200, path


def test_the_document_states_the_bearer_scheme(secured):
    document = _document(secured[0])
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    records = document["paths"]["/api/v1/records"]["get"]
    assert records["security"] == [{"bearer": []}]
    for status in ("401", "403", "429"):  # as the middlewares send them
        content = records["responses"][status]["content"]
        assert content == {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"}}}, status  # fmt: skip


def test_security_headers_on_answers_and_refusals(secured):
    client, _ = secured
    for response in (client.get("/api/v1/records", headers=bearer()), client.get("/api/v1/x")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]


def test_auth_mode_none_lets_everyone_read(reader_settings, schema):
    cfg = api_config(reader_settings, schema, auth=jwt_test_settings(mode="none", jwt_secret=""))
    with serving(cfg, scopes=()) as client:
        assert client.get("/api/v1/records").status_code == 200
        assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})


def test_a_client_over_its_rate_is_answered_429(reader_settings, schema):
    limits = LimitSettings(rate_per_s=0.1, burst=3)
    with serving(api_config(reader_settings, schema, limits=limits), scopes=()) as client:
        ada, bob = bearer(subject="ada"), bearer(subject="bob")
        assert [client.get("/api/v1/stats", headers=ada).status_code for _ in range(3)] == [200] * 3
        refused = client.get("/api/v1/stats", headers=ada)
        problem = _problem(refused, 429, "too-many-requests")
        assert (problem["title"], problem["detail"]) == (
            "Too Many Requests", "too many requests: slow down",
        )  # fmt: skip
        assert int(refused.headers["retry-after"]) >= 1
        assert client.get("/api/v1/stats", headers=bob).status_code == 200  # per client
        assert client.get("/healthz").status_code == 200  # probes are never throttled
