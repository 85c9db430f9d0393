"""The publishers' inbox backlog on Status, in headless Chromium: a real publisher process
reports through the real Kafka status topic, and the page shows its files waiting and how long
the oldest has waited, with and without JavaScript. Screenshots beside the other browser tests'
(the stack's var/screenshots), or where WEB_SCREENSHOTS says."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from devstack.testing import bearer

from ..conftest import publisher_process, serving, web_config
from .conftest import SIZES, screenshots


def test_status_shows_each_publishers_inbox_backlog(
    page: Page, browser: Browser, stack_env, reader_settings, schema, status_kafka, tmp_path
):
    inbox = tmp_path / "inbox"
    (inbox / "orders").mkdir(parents=True)
    for name in ("a.json", "b.yaml", "orders/c.json"):
        (inbox / name).write_text("n: 1\n")
    half_an_hour_ago = time.time() - 1800
    os.utime(inbox / "orders" / "c.json", (half_an_hour_ago, half_an_hour_ago))
    shots = Path(os.environ.get("WEB_SCREENSHOTS")
                 or Path(stack_env.get("DEVSTACK_VAR", "var")) / "screenshots")  # fmt: skip
    shots.mkdir(parents=True, exist_ok=True)
    cfg = web_config(reader_settings, schema, status_kafka, submit_enabled=False)
    with serving(cfg) as web, publisher_process(status_kafka, inbox, tmp_path):
        url = f"{str(web.base_url).rstrip('/')}/status"
        page.goto(url)
        # Status refreshes itself in place: the publisher's first report shows without a reload
        row = page.locator("#backlog tbody tr")
        expect(row).to_have_count(1)
        expect(row.locator(".backlog-files")).to_have_text("3")
        expect(row.locator(".backlog-oldest")).to_have_text(re.compile(r"^30 min( \d+ s)?$"))
        expect(row.locator("td").first).to_have_text(re.compile(r"^streamsuite-publisher-"))
        expect(page.locator("#backlog-total")).to_have_text(
            re.compile(r"^3 files waiting in 1 inbox, the oldest for 30 min")
        )
        expect(page.locator("#backlog-title")).to_contain_text(status_kafka.effective_status_topic)
        screenshots(page, shots, "status-backlog")

        # Reading needs no JavaScript: the table is in the page as served.
        context = browser.new_context(viewport=SIZES["desktop"], java_script_enabled=False,
                                      extra_http_headers=bearer("read"))  # fmt: skip
        try:
            plain = context.new_page()
            plain.goto(url)
            expect(plain.locator("#backlog tbody tr .backlog-files")).to_have_text("3")
        finally:
            context.close()
