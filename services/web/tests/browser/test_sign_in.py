"""Signing in to the web UI in headless Chromium (issue 17): a browser without credentials gets
the sign-in page, a pasted token signs it in (an HttpOnly cookie, never readable by scripts)
and Submit appears only with the submit scope; behind an authenticating proxy the user it
names is signed in without a token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from devstack.testing import TEST_JWT_SECRET, jwt_test_settings
from streamsuite_common.auth import mint_token

from ..conftest import serving, web_config
from .conftest import SIZES, TIMEOUT_MS


@pytest.fixture
def fresh(browser: Browser) -> Iterator[BrowserContext]:
    """A browser context with no credentials of its own."""
    context = browser.new_context(viewport=SIZES["desktop"])
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


def test_a_pasted_token_signs_the_browser_in(fresh, reader_settings, schema, filler, test_kafka):
    filler.add({"name": "Ada Lovelace", "age": 36})
    with serving(web_config(reader_settings, schema, kafka=test_kafka), scopes=()) as web:
        url = str(web.base_url).rstrip("/")
        page = fresh.new_page()
        response = page.goto(f"{url}/records?name=Ada+Lovelace")
        assert response is not None
        assert response.status == 401
        expect(page.locator("h1")).to_have_text("Sign in")
        page.fill("#token", mint_token(TEST_JWT_SECRET, ["read"], subject="ada"))
        page.click("#login-button")
        # Back where it was going, signed in: the filtered records.
        expect(page).to_have_url(f"{url}/records?name=Ada+Lovelace")
        expect(page.locator("table")).to_contain_text("Ada Lovelace")
        expect(page.locator('nav a[href="/submit"]')).to_have_count(0)  # read only
        assert page.evaluate("document.cookie") == ""  # HttpOnly: no script can read it
        assert page.goto(f"{url}/submit").status == 403
        page.goto(f"{url}/login")
        expect(page.locator("main")).to_contain_text("Signed in as ada")
        page.click("#logout-button")
        assert page.goto(f"{url}/records").status == 401

        page.goto(f"{url}/login")
        page.fill("#token", "not-a-token")
        page.click("#login-button")
        expect(page.locator("#login-error")).to_contain_text("not a JWT")
        page.fill("#token", mint_token(TEST_JWT_SECRET, ["read", "submit"], subject="grace"))
        page.click("#login-button")
        expect(page.locator('nav a[href="/submit"]')).to_have_count(1)


def test_the_user_an_authenticating_proxy_names_is_signed_in(
    browser, reader_settings, schema, filler
):
    filler.add({"name": "Grace Hopper", "age": 85})
    proxy = jwt_test_settings(mode="proxy", proxy_cidrs=("127.0.0.1/32",))
    with serving(web_config(reader_settings, schema, auth=proxy), scopes=()) as web:
        url = str(web.base_url).rstrip("/")
        # What oauth2-proxy in front of the UI adds to every request it lets through.
        headers = {"X-Forwarded-User": "grace", "X-Forwarded-Groups": "staff"}
        context = browser.new_context(extra_http_headers=headers)
        try:
            page = context.new_page()
            assert page.goto(f"{url}/records").status == 200
            expect(page.locator("table")).to_contain_text("Grace Hopper")
            page.goto(f"{url}/login")
            expect(page.locator("main")).to_contain_text("Signed in as grace")
        finally:
            context.close()
        anonymous = browser.new_context()
        try:
            assert anonymous.new_page().goto(f"{url}/records").status == 401
        finally:
            anonymous.close()
