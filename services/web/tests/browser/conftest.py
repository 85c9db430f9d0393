"""Headless Chromium for the browser tests (Debian's ``chromium``, driven by Playwright through
its executable path): one browser per module, a fresh desktop-sized page per test, and
screenshots at desktop and phone widths; and what a module's servers run on: Kafka topics and
a migrated schema of the module's own."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from devstack.testing import bearer
from streamsuite_common.config import KafkaSettings
from streamsuite_common.kafka import connect_admin, ensure_topics

from ..conftest import migrated_schema

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


@pytest.fixture(scope="session")
def screenshot_dir(stack_env) -> Path:
    """Where screenshots go: ``WEB_SCREENSHOTS``, else the stack's ``var/screenshots``."""
    default = Path(stack_env.get("DEVSTACK_VAR", "var")) / "screenshots"
    folder = Path(os.environ.get("WEB_SCREENSHOTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def module_kafka(request, kafka_settings) -> Iterator[KafkaSettings]:
    """Kafka settings whose records topic and DLQ are this module's own (``web.<module>.<id>``,
    one partition, so an ingestor reads them in order); deleted after the module."""
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    suffix = uuid.uuid4().hex[:10]
    topic, dlq = f"web.{name}.{suffix}", f"web.{name}.{suffix}.dlq"
    admin = connect_admin(kafka_settings)
    ensure_topics(admin, [topic, dlq], partitions=1)
    try:
        yield dataclasses.replace(kafka_settings, topic=topic, dlq_topic=dlq,
                                  connect_timeout_s=20)  # fmt: skip
    finally:
        admin.delete_topics([topic, dlq])
        admin.close()


@pytest.fixture(scope="module")
def module_schema(stack_env, writer_settings, reader_settings) -> Iterator[str]:
    """A schema of this module's own, migrated by the ingestor's migrations; dropped after."""
    admin_conn = psycopg2.connect(stack_env["DEVSTACK_PG_ADMIN_DSN"],
                                  dbname=stack_env["DEVSTACK_PG_DBNAME"])  # fmt: skip
    admin_conn.autocommit = True
    try:
        with migrated_schema(admin_conn, writer_settings, reader_settings) as name:
            yield name
    finally:
        admin_conn.close()
