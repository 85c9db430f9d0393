"""Headless Chromium for the browser tests (Debian's ``chromium``, driven by Playwright through
its executable path): one browser per module, a fresh desktop-sized page per test, and
screenshots at desktop and phone widths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from devstack.testing import bearer

CHROMIUM = os.environ.get("STREAMSUITE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
TIMEOUT_MS = 30_000
# Assertions wait on conditions; on a busy 2-core machine the whole pipeline (publisher,
# Kafka, ingestor, NOTIFY, the page) can take a while, so the deadline is generous.
expect.set_options(timeout=60_000)


def screenshots(page: Page, folder: Path, name: str) -> None:
    """The page at each width in ``SIZES``, as ``<name>-<size>.png`` in ``folder``."""
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.screenshot(path=str(folder / f"{name}-{size}.png"), full_page=True)
    page.set_viewport_size(SIZES["desktop"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"browser tests need Debian's Chromium at {CHROMIUM}: install it with "
            "`apt-get install -y chromium` (or set STREAMSUITE_CHROMIUM)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page whose every request carries a read+submit token (the tests' own servers verify
    it); tests of signing in open contexts of their own."""
    context = browser.new_context(viewport=SIZES["desktop"],
                                  extra_http_headers=bearer("read", "submit"))  # fmt: skip
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.dialogs = dialogs  # type: ignore[attr-defined]
    yield opened
    context.close()
