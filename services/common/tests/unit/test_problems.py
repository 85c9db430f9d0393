"""The refusals of the auth and limit middlewares are RFC 9457 problems with a stable ``code``,
the same shape as the query API's errors (the middlewares driven as ASGI apps, no server)."""

from __future__ import annotations

import asyncio
import json

from streamsuite_common.auth import Authenticator, AuthMiddleware, AuthSettings, mint_token
from streamsuite_common.auth.settings import LimitSettings
from streamsuite_common.limits import ClientLimits, LimitMiddleware
from streamsuite_common.problems import PROBLEM_JSON, problem_body, status_code

SECRET = "0123456789abcdef0123456789abcdef"


async def _ok(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def call(app, path: str = "/api/v1/records", method: str = "GET", headers=()):
    """(status, headers, body) of one request through ``app``."""
    scope = {
        "type": "http", "method": method, "path": path, "query_string": b"", "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "scheme": "http",
        "http_version": "1.1",
    }  # fmt: skip
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    found = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], found, body


def guarded(app=_ok, **settings):
    auth = Authenticator(AuthSettings(**{"jwt_secret": SECRET, **settings}))
    return AuthMiddleware(app, authenticator=auth, open_paths=lambda path: path == "/healthz",
                          required_scope=lambda method, path: "read")  # fmt: skip


def bearer(*scopes: str) -> tuple[tuple[str, str]]:
    return (("Authorization", f"Bearer {mint_token(SECRET, scopes)}"),)


def problem_of(response) -> dict:
    status, headers, body = response
    assert headers["content-type"] == PROBLEM_JSON
    found = json.loads(body)
    assert found["status"] == status
    assert found["type"] == "about:blank"
    return found


def test_a_problem_names_its_status_and_code():
    assert problem_body(404, "record 7: not found", "not-found", "record_id") == {
        "type": "about:blank", "title": "Not Found", "status": 404,
        "detail": "record 7: not found", "code": "not-found", "parameter": "record_id",
    }  # fmt: skip
    assert "parameter" not in problem_body(503, "down", "database-unavailable")
    assert status_code(415) == "unsupported-media-type"
    assert status_code(429) == "too-many-requests"


def test_no_credentials_is_a_401_problem_with_the_challenge():
    response = call(guarded())
    assert response[0] == 401
    assert response[1]["www-authenticate"] == 'Bearer realm="streamsuite"'
    assert problem_of(response) == {
        "type": "about:blank", "title": "Unauthorized", "status": 401,
        "detail": "authentication required: send a bearer token",
        "code": "authentication-required",
    }  # fmt: skip


def test_a_bad_token_and_a_bad_header_are_401_problems_coded_as_rfc_6750_says():
    bad = problem_of(call(guarded(), headers=(("Authorization", "Bearer not-a-jwt"),)))
    assert (bad["status"], bad["code"]) == (401, "invalid-token")
    assert "not a JWT" in bad["detail"]
    basic = problem_of(call(guarded(), headers=(("Authorization", "Basic YTpi"),)))
    assert (basic["status"], basic["code"]) == (401, "invalid-request")


def test_a_missing_scope_is_a_403_problem():
    response = call(guarded(), headers=bearer("submit"))
    assert 'error="insufficient_scope"' in response[1]["www-authenticate"]
    found = problem_of(response)
    assert (found["status"], found["title"], found["code"]) == (
        403, "Forbidden", "insufficient-scope",
    )  # fmt: skip
    assert found["detail"] == "this needs the 'read' scope"
    assert call(guarded(), headers=bearer("read"))[:1] == (200,)
    assert call(guarded(), path="/healthz")[:1] == (200,)


def test_a_cross_site_post_on_browser_credentials_is_a_403_problem():
    auth = Authenticator(AuthSettings(jwt_secret=SECRET), accept_cookie=True)
    app = AuthMiddleware(_ok, authenticator=auth, open_paths=lambda path: False,
                         required_scope=lambda method, path: "read",
                         origin_allowed=lambda origin: origin == "https://ui.example")  # fmt: skip
    cookie = ("Cookie", f"{auth.settings.cookie_name}={mint_token(SECRET, ['read'])}")
    found = problem_of(call(app, method="POST", headers=(cookie,)))
    assert (found["status"], found["code"]) == (403, "cross-site-request")
    allowed = (cookie, ("Origin", "https://ui.example"))
    assert call(app, method="POST", headers=allowed)[:1] == (200,)


def limited(**settings) -> LimitMiddleware:
    return LimitMiddleware(_ok, limits=ClientLimits(LimitSettings(**settings)),
                           exempt=lambda path: False, streaming=lambda path: False,
                           scans=lambda scope: True)  # fmt: skip


def test_over_the_rate_is_a_429_problem_with_retry_after():
    app = limited(rate_per_s=0.01, burst=1)
    assert call(app)[:1] == (200,)
    response = call(app)
    assert int(response[1]["retry-after"]) >= 1
    found = problem_of(response)
    assert (found["status"], found["title"], found["code"]) == (
        429, "Too Many Requests", "too-many-requests",
    )  # fmt: skip


def test_too_many_in_flight_is_a_429_problem():
    app = limited(scan_concurrency=0)
    response = call(app)
    assert response[1]["retry-after"] == "1"
    found = problem_of(response)
    assert (found["status"], found["code"]) == (429, "too-many-in-flight")
    assert "unindexed-filter" in found["detail"]
