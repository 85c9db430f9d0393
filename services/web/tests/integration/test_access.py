"""Who may use the web UI (issue 17): every page refuses a caller without credentials (401 with
the sign-in form and WWW-Authenticate), a read token reads but may not Submit (403), a submit
token publishes; the sign-in page keeps a verified token in an HttpOnly SameSite=Strict cookie,
and a post riding on that cookie (or on the proxy's session) must come from a configured
origin; behind an authenticating proxy the user it names is believed only from its
addresses; with authentication off Submit stays off unless enabled explicitly."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.routing import APIRoute
from kafka import KafkaConsumer

from devstack.testing import TEST_JWT_SECRET, bearer, jwt_test_settings
from streamsuite_common.auth import mint_token
from streamsuite_web import pages

from ..conftest import serving, web_config

OPEN = {"/healthz", "/readyz", "/metrics", "/login", "/logout"}


def _pages(record_id: int, letter_id: int) -> list[tuple[str, str]]:
    """(method, path) of every route the UI serves but the open ones, ids filled in."""
    found = []
    for route in pages.router.routes:
        if not isinstance(route, APIRoute) or route.path in OPEN:
            continue
        path = route.path.replace("{record_id:int}", str(record_id))
        path = path.replace("{letter_id:int}", str(letter_id))
        found += [(method, path) for method in sorted(route.methods - {"HEAD"})]
    return found


def _call(client: httpx.Client, method: str, path: str, **options) -> httpx.Response:
    if path == "/events":  # never ends by itself: the status line is enough
        with client.stream(method, path, **options) as response:
            response.read() if response.status_code != 200 else None
            return response
    return client.request(method, path, **options)


@pytest.fixture
def ids(filler) -> tuple[int, int]:
    record = filler.add({"name": "Ada", "age": 36})[0]
    filler.dead_letter("invalid-json", b"{", source="bad.json")
    return record, 1


def test_every_page_needs_credentials_and_submit_needs_its_scope(
    reader_settings, schema, test_kafka, ids
):
    cfg = web_config(reader_settings, schema, kafka=test_kafka)
    with serving(cfg, scopes=()) as web:
        routes = _pages(*ids)
        assert {p for _, p in routes} >= {"/records", "/status", "/dead-letters", "/submit",
                                         "/events", f"/records/{ids[0]}"}  # fmt: skip
        for method, path in routes:
            response = _call(web, method, path)
            assert response.status_code == 401, (method, path)
            assert response.headers["www-authenticate"] == 'Bearer realm="streamsuite"'
        page = web.get("/records?name=Ada")
        assert 'action="/login"' in page.text
        assert 'name="next" value="/records?name=Ada"' in page.text
        for path in ("/healthz", "/readyz", "/metrics", "/login", "/static/app.css"):
            assert web.get(path).status_code == 200, path

        reader = bearer("read")
        for method, path in routes:
            status = _call(web, method, path, headers=reader).status_code
            if method == "POST" or path == "/submit":
                assert status == 403, (method, path)
            else:
                assert status not in (401, 403), (method, path, status)
        assert 'href="/submit"' not in web.get("/records", headers=reader).text

        submitter = bearer("read", "submit")
        assert 'href="/submit"' in web.get("/records", headers=submitter).text
        response = web.post("/submit", data={"content": '{"name": "Grace"}'}, headers=submitter)
        assert response.status_code == 200, response.text
    consumer = KafkaConsumer(test_kafka.topic, bootstrap_servers=list(test_kafka.bootstrap_servers),
                             auto_offset_reset="earliest", consumer_timeout_ms=15_000,
                             isolation_level="read_committed")  # fmt: skip
    try:
        values = [m.value for m in consumer]
    finally:
        consumer.close()
    assert values == [b'{"name": "Grace"}']


def test_signing_in_sets_a_strict_httponly_cookie_and_cookie_posts_need_the_origin(
    reader_settings, schema, test_kafka
):
    cfg = web_config(reader_settings, schema, kafka=test_kafka)
    with serving(cfg, scopes=()) as web:
        origin = f"http://127.0.0.1:{web.base_url.port}"
        token = mint_token(TEST_JWT_SECRET, ["read", "submit"], subject="ada")
        refused = web.post(
            "/login", data={"token": token}, headers={"Origin": "https://evil.example"}
        )
        assert refused.status_code == 403
        bad = web.post("/login", data={"token": token[:-4] + "AAAA", "next": "/status"})
        assert bad.status_code == 401
        assert "signature does not verify" in bad.text
        signed = web.post("/login", data={"token": token, "next": "//evil.example/x"},
                          headers={"Origin": origin})  # fmt: skip
        assert signed.status_code == 303
        assert signed.headers["location"] == "/records"  # never off-site
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith(f"streamsuite_token={token};")
        assert re.search(r"HttpOnly", cookie, re.I)
        assert re.search(r"SameSite=strict", cookie, re.I)
        assert re.search(r"Max-Age=(86[0-3]\d\d|85\d\d\d)", cookie)  # until the token expires
        assert "Signed in as <strong>ada</strong>" in web.get("/login").text
        assert web.get("/records").status_code == 200  # the cookie alone

        def post(**headers: str) -> int:
            return web.post("/submit", data={"content": " "}, headers=headers).status_code

        assert post() == 403  # a cookie post without Origin: refused
        assert post(Origin="https://evil.example") == 403
        assert post(Origin=origin) == 400  # accepted; nothing to submit
        assert web.post("/logout", headers={"Origin": origin}).status_code == 303
        assert web.get("/records").status_code == 401
        expired = mint_token(TEST_JWT_SECRET, ["read"], ttl_s=-3600)
        web.cookies.set("streamsuite_token", expired)
        assert "has expired" in web.get("/records").headers["www-authenticate"]


def test_the_proxy_user_is_believed_only_from_the_proxy_addresses(
    reader_settings, schema, test_kafka
):
    proxy = jwt_test_settings(mode="proxy", proxy_cidrs=("127.0.0.1/32",),
                              proxy_submit_groups=("publishers",))  # fmt: skip
    with serving(web_config(reader_settings, schema, kafka=test_kafka, auth=proxy),
                 scopes=()) as web:  # fmt: skip
        origin = f"http://127.0.0.1:{web.base_url.port}"
        ada = {"X-Forwarded-User": "ada", "X-Forwarded-Groups": "staff"}
        assert web.get("/records").status_code == 401
        assert web.get("/records", headers=ada).status_code == 200
        assert web.get("/submit", headers=ada).status_code == 403
        grace = {"X-Forwarded-User": "grace", "X-Forwarded-Groups": "staff,publishers"}
        assert web.get("/submit", headers=grace).status_code == 200
        blank = {"content": " "}
        assert web.post("/submit", data=blank, headers=grace).status_code == 403  # no Origin
        assert (
            web.post("/submit", data=blank, headers={**grace, "Origin": origin}).status_code == 400
        )
        assert web.get("/records", headers=bearer()).status_code == 200  # tokens work too
    elsewhere = jwt_test_settings(mode="proxy", proxy_cidrs=("10.0.0.0/8",))
    with serving(web_config(reader_settings, schema, auth=elsewhere), scopes=()) as web:
        assert web.get("/records", headers={"X-Forwarded-User": "ada"}).status_code == 401


def test_without_authentication_submit_stays_off_unless_enabled(
    reader_settings, schema, test_kafka
):
    off = jwt_test_settings(mode="none", jwt_secret="")
    with serving(web_config(reader_settings, schema, kafka=test_kafka, auth=off), scopes=()) as web:
        assert web.get("/records").status_code == 200
        assert web.get("/submit").status_code == 404
    with serving(web_config(reader_settings, schema, kafka=test_kafka, auth=off,
                            submit_without_auth=True), scopes=()) as web:  # fmt: skip
        assert web.get("/submit").status_code == 200
