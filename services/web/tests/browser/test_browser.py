"""The web UI in headless Chromium (Debian's ``chromium``, driven by Playwright through its
executable path), against real servers: a web UI of the test's own on a schema fed by the real
ingestor from unique topics (Submit publishes there too), and one on the running stack's own
schema for the true end-to-end path (a file dropped in the stack's inbox). Screenshots of every
page at desktop and phone widths go to ``var/screenshots/``."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from playwright.sync_api import Page, expect

from devstack.testing import bearer
from streamsuite_common.auth import AuthSettings
from streamsuite_common.db import connect_kwargs
from streamsuite_common.query import read as query_read

from ..conftest import (
    XSS_IMG,
    XSS_SCRIPT,
    filling,
    running_ingestor,
    serving,
    wait_for,
    web_config,
)
from .conftest import screenshots


@dataclasses.dataclass
class Env:
    url: str  # the web UI on the test schema (Submit on)
    stack_url: str  # the web UI on the running stack's schema
    schema: str
    reader: object
    ids: dict
    shots: Path
    inbox: Path


@pytest.fixture(scope="module")
def env(
    stack_env, module_kafka, module_schema, screenshot_dir, writer_settings, reader_settings
) -> Iterator[Env]:
    schema = module_schema
    with contextlib.ExitStack() as stack:
        filler = stack.enter_context(filling(writer_settings, schema))
        ids = {
            "ada": filler.add(
                {"name": "Ada Lovelace", "age": 36, "langs": ["en", "fr"]},
                source="people/ada.yaml",
            )[0],
            "bob": filler.add({"name": "Bob", "age": 17})[0],
            "city": filler.add({"address": {"city": "London", "zip": "N1"}, "tags": ["x", "y"]})[0],
            "xss": filler.add({"name": XSS_SCRIPT, "note": XSS_IMG}, source=XSS_IMG)[0],
        }
        filler.dead_letter("invalid-json", XSS_SCRIPT.encode(), source=XSS_IMG,
                           detail="Expecting value at line 1 column 1")  # fmt: skip
        filler.dead_letter("invalid-yaml", b"a: [\n", source="bad.yaml",
                           detail="expected ',' or ']' at line 2 column 1")  # fmt: skip
        stack.enter_context(
            running_ingestor(module_kafka, writer_settings, reader_settings.dbuser, schema)
        )
        web = stack.enter_context(serving(web_config(reader_settings, schema, kafka=module_kafka)))
        stack_web = stack.enter_context(
            serving(web_config(reader_settings, stack_env.get("DEVSTACK_SCHEMA", "streamsuite")))
        )
        yield Env(
            url=str(web.base_url).rstrip("/"),
            stack_url=str(stack_web.base_url).rstrip("/"),
            schema=schema,
            reader=dataclasses.replace(reader_settings, schema=schema),
            ids=ids,
            shots=screenshot_dir,
            inbox=Path(stack_env.get("DEVSTACK_VAR", "var")) / "inbox",
        )


def shoot(page: Page, env: Env, name: str) -> None:
    screenshots(page, env.shots, name)


def live_on(page: Page) -> None:
    expect(page.locator("#live")).to_have_class(re.compile(r"\bon\b"))


def test_a_file_dropped_in_the_inbox_appears_live_without_a_reload(page: Page, env: Env):
    page.goto(f"{env.stack_url}/records")
    live_on(page)
    page.evaluate("window.__sameDocument = true")
    marker = uuid.uuid4().hex[:12]
    name = f"web-browser-{marker}.json"
    tmp = env.inbox / f"{name}.tmp"
    tmp.write_text(f'{{"name": "Live {marker}", "age": 41}}')
    tmp.rename(env.inbox / name)
    row = page.locator("#records tbody tr", has_text=f"Live {marker}")
    expect(row).to_be_visible()
    expect(row).to_have_class(re.compile(r"\bnew\b"))
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    expect(page.locator("#records tbody tr").first).to_contain_text(f"Live {marker}")
    shoot(page, env, "records-live")


def test_filters_narrow_the_table(page: Page, env: Env):
    page.goto(f"{env.url}/records")
    expect(page.locator("#records tbody tr")).to_have_count(4)
    page.fill("input[name=age_min]", "18")
    page.select_option("select[name=kind]", "relational")
    page.click("form.filters button[type=submit]")
    expect(page.locator("#records tbody tr")).to_have_count(1)
    expect(page.locator("#records tbody tr")).to_contain_text("Ada Lovelace")
    assert "age_min=18" in page.url
    assert "kind=relational" in page.url
    page.goto(f"{env.url}/records?key=address.city&value=London")
    expect(page.locator("#records tbody tr")).to_have_count(1)
    page.goto(f"{env.url}/records?age_min=old")
    expect(page.locator("#filter-error")).to_contain_text("age_min: expected a whole number")
    page.goto(f"{env.url}/records")
    shoot(page, env, "records")


def test_a_record_page_shows_provenance(page: Page, env: Env):
    page.goto(f"{env.url}/records")
    page.click(f'#records tr[data-id="{env.ids["ada"]}"] td.num a')
    expect(page).to_have_url(re.compile(rf"/records/{env.ids['ada']}$"))
    provenance = page.locator("#provenance")
    expect(provenance).to_contain_text("people/ada.yaml")
    expect(provenance).to_contain_text("partition 0")
    expect(provenance).to_contain_text("Ingested")
    expect(page.locator("#document")).to_contain_text('"Ada Lovelace"')
    page.click("button[data-tree=close]")
    expect(page.locator("#document details").nth(1)).not_to_have_attribute("open", "")
    page.click("#raw-link")
    assert '"people/ada.yaml"' in page.content()
    page.go_back()
    shoot(page, env, "record")


def test_the_status_chart_renders_the_real_numbers(page: Page, env: Env):
    conn = psycopg2.connect(**connect_kwargs(env.reader, application_name="web-browser-test"))
    conn.autocommit = True
    try:
        stats = query_read.stats(conn)
    finally:
        conn.close()
    page.goto(f"{env.url}/status")
    bars = page.locator("#per-minute rect.bar")
    expect(bars).to_have_count(60)
    counts = [int(c) for c in bars.evaluate_all("els => els.map(e => e.dataset.count)")]
    expected = [point["count"] for point in stats["records_per_minute"]]
    # a record may be stored between the two reads: the page is at least as new as the stats
    assert len(counts) == 60
    assert sum(counts) >= sum(expected) > 0
    heights = bars.evaluate_all("els => els.map(e => e.getBBox().height)")
    tallest = max(range(60), key=lambda i: counts[i])
    assert heights[tallest] > 0
    assert all(h == 0 for h, c in zip(heights, counts, strict=True) if c == 0)
    expect(page.locator("#records-total")).to_have_text(str(stats["records"]["total"]))
    expect(page.locator("#dead-letters-total")).to_have_text(str(stats["dead_letters"]["total"]))
    expect(page.locator("#per-minute text.ylabel").last).to_have_text(re.compile(r"^\d+$"))
    expect(page.locator('[data-dependency="PostgreSQL"]')).to_have_class("ok")
    expect(page.locator('[data-dependency="Kafka"]')).to_have_class("ok")
    shoot(page, env, "status")


def test_a_pasted_yaml_document_is_published_and_appears(page: Page, env: Env):
    marker = uuid.uuid4().hex[:12]
    page.goto(f"{env.url}/submit")
    page.fill("textarea[name=content]", f"name: Pasted {marker}\nage: 29\nlangs: [en]\n")
    page.click("#submit-button")
    expect(page.locator("#result")).to_contain_text("Published 1 document")
    shoot(page, env, "submit-published")
    page.click("#result-records")
    # stored by the test's own ingestor, shown on load or by the live feed
    expect(page.locator("#records tbody tr", has_text=f"Pasted {marker}")).to_be_visible()
    expect(page.locator("#records tbody tr")).to_have_count(1)


def test_invalid_pasted_input_shows_its_error(page: Page, env: Env):
    page.goto(f"{env.url}/submit")
    page.fill("textarea[name=content]", "name: [unclosed\nage: 3\n")
    page.check("input[name=format][value=yaml]")
    page.click("#submit-button")
    result = page.locator("#result")
    expect(result).to_contain_text("Refused")
    expect(result.locator(".reason")).to_have_text("invalid-yaml")
    expect(result.locator(".detail")).to_contain_text("line")
    expect(page.locator("textarea[name=content]")).to_have_value("name: [unclosed\nage: 3\n")
    shoot(page, env, "submit-refused")
    page.goto(f"{env.url}/submit")
    page.click("#submit-button")
    expect(page.locator("#result")).to_contain_text("nothing to submit")


def test_a_stored_xss_payload_never_executes(page: Page, env: Env):
    for path in ("/records", f"/records/{env.ids['xss']}", "/dead-letters", "/status"):
        page.goto(f"{env.url}{path}")
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__xss") == "undefined", path
        assert page.locator("main img").count() == 0, path
        assert page.locator("main script").count() == 0, path
    page.goto(f"{env.url}/records/{env.ids['xss']}")
    expect(page.locator("#document")).to_contain_text(XSS_SCRIPT.replace('"', '\\"'))
    expect(page.locator("#provenance")).to_contain_text(XSS_IMG)
    page.goto(f"{env.url}/dead-letters")
    shoot(page, env, "dead-letters")
    # the raw content is on the letter's own page (the list leaves the bytes out)
    page.locator(".letter", has_text=XSS_IMG).locator(".raw-link a").click()
    expect(page.locator(".letter pre")).to_be_visible()
    expect(page.locator("#letters")).to_contain_text(XSS_SCRIPT)
    assert page.locator("main img").count() == 0
    shoot(page, env, "dead-letter")
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.evaluate("typeof window.__xss") == "undefined"


# --- issue 18: operators' controls ---


def test_status_refreshes_itself_in_place_and_can_be_paused(page: Page, env: Env):
    page.clock.install()  # the page's timers run when the test says so
    page.goto(f"{env.url}/status")
    page.evaluate("window.__sameDocument = true")
    before = int(page.locator("#records-total").inner_text())
    marker = uuid.uuid4().hex[:12]
    other = page.context.new_page()
    other.goto(f"{env.url}/submit")
    other.fill("textarea[name=content]", f'{{"refresh": "{marker}"}}')
    other.click("#submit-button")
    expect(other.locator("#result")).to_contain_text("Published 1 document")
    other.close()

    def refreshed_with_it() -> bool:
        page.clock.run_for(15_000)  # one refresh period
        return int(page.locator("#records-total").inner_text()) > before

    # the new record's count arrives by the page's own refresh, not by a reload
    wait_for(refreshed_with_it, what="the Status page refreshed with the new record", interval_s=1)
    assert page.evaluate("window.__sameDocument") is True
    toggle = page.locator("#refresh-toggle")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(toggle).to_have_text("Resume refresh")
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.clock.run_for(60_000)  # four refresh periods: nothing is fetched while paused
    page.evaluate("1")
    assert not [url for url in fetched if "/status" in url]
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    shoot(page, env, "status-refresh")


def test_status_charts_have_a_text_alternative(page: Page, env: Env):
    page.goto(f"{env.url}/status")
    for name in ("records", "dead-letters", "latency"):
        chart = page.locator(f"svg.per-minute[aria-label*='{name.split('-')[0]}' i]")
        expect(chart).to_have_count(1)
        expect(page.locator(f"#{name}-table")).to_be_attached()
    expect(page.locator("#dead-letters-chart rect.bar")).to_have_count(60)
    expect(page.locator("#latency-chart rect.bar")).to_have_count(60)
    page.click("#records-table summary")
    expect(page.locator("#records-table tbody tr").first).to_contain_text(re.compile(r"records?$"))
    page.click("#latency-table summary")
    expect(page.locator("#latency-table tbody tr").first).to_contain_text(re.compile(r" s$"))
    label = page.locator("#per-minute").get_attribute("aria-label") or ""
    assert re.search(r"\d+ records? in all", label)
    shoot(page, env, "status-charts")


def test_the_time_range_picker_narrows_by_ingest_time(page: Page, env: Env):
    page.goto(f"{env.url}/records?name=Ada+Lovelace")
    expect(page.locator("#records tbody tr")).to_have_count(1)
    page.select_option("#range", "15m")
    page.click("form.filters button[type=submit]")
    assert "range=15m" in page.url
    expect(page.locator("#records tbody tr")).to_have_count(1)  # stored when the module began
    page.select_option("#range", "custom")
    page.fill("input[name=from]", "2020-01-01T00:00")
    page.fill("input[name=to]", "2020-01-02T00:00")
    page.select_option("#tz", "local")
    page.click("form.filters button[type=submit]")
    expect(page.locator("#no-records")).to_be_visible()
    offset = int(page.evaluate("0 - new Date().getTimezoneOffset()"))
    expect(page.locator("#tz-offset")).to_have_value(str(offset))
    assert f"tz_offset={offset}" in page.url.replace("%2B", "+").replace("+", "")
    expect(page.locator("#range")).to_have_value("custom")  # the picker shows what was asked
    shoot(page, env, "records-time-range")


def test_copy_as_curl_and_ndjson_download_follow_the_filter(page: Page, env: Env):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{env.url}/records?kind=relational&age_min=18")
    page.click("#api summary")
    command = page.locator("#curl").inner_text()
    assert "/api/v1/records?kind=relational&age_min=18&limit=" in command
    page.click("#copy-curl")
    expect(page.locator("#copy-curl")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == command
    shown = page.locator("#records tbody tr").evaluate_all("rows => rows.map(r => +r.dataset.id)")
    # A download is a request of the browser's own, without the test's extra header: signed
    # in with the cookie /login sets, as a person's browser is.
    token = bearer("read")["Authorization"].split()[1]
    page.context.add_cookies([{"name": AuthSettings().cookie_name, "value": token,
                               "url": env.url}])  # fmt: skip
    with page.expect_download() as download:
        page.click("#ndjson")
    lines = Path(download.value.path()).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == shown
    assert all(r["kind"] == "relational" and r["age"] >= 18 for r in records)
    assert download.value.suggested_filename.endswith(".ndjson")
    shoot(page, env, "records-curl")


def test_navigation_live_region_and_reduced_motion(page: Page, env: Env):
    page.emulate_media(reduced_motion="reduce")
    page.goto(f"{env.url}/records")
    expect(page.locator("nav[aria-label=Main]")).to_have_count(1)
    expect(page.locator('nav[aria-label=Main] a[aria-current="page"]')).to_have_text("Records")
    expect(page.locator("#live")).to_have_attribute("role", "status")
    live_on(page)
    marker = uuid.uuid4().hex[:12]
    other = page.context.new_page()
    other.goto(f"{env.url}/submit")
    other.fill("textarea[name=content]", f"name: Motion {marker}\nage: 30\n")
    other.click("#submit-button")
    # Closed only once the post has answered: closing mid-navigation hung page.close() once.
    expect(other.locator("#result")).to_contain_text("Published 1 document")
    other.close()
    row = page.locator("#records tbody tr", has_text=f"Motion {marker}")
    expect(row).to_have_class(re.compile(r"\bnew\b"))
    assert row.evaluate("r => getComputedStyle(r).animationName") == "none"
    expect(page.locator("#live-announce")).to_have_text(re.compile(r"^\d+ new records?$"))
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()


def test_kafka_partition_and_offset_filters_narrow_the_table(page: Page, env: Env):
    # The filler stores ada, bob, city and xss on partition 0 at offsets 1, 2, 3 and 4.
    page.goto(f"{env.url}/records")
    page.click("details.more summary")
    page.fill("input[name=partition]", "0")
    page.fill("input[name=offset_min]", "2")
    page.fill("input[name=offset_max]", "3")
    page.click("form.filters button[type=submit]")
    assert "partition=0" in page.url
    assert "offset_min=2" in page.url
    assert "offset_max=3" in page.url
    shown = set(page.locator("#records tbody tr").evaluate_all(
        "rows => rows.map(r => +r.dataset.id)"))  # fmt: skip
    assert {env.ids["bob"], env.ids["city"]} <= shown
    assert not {env.ids["ada"], env.ids["xss"]} & shown
    page.click("#api summary")
    assert "partition=0&offset_min=2&offset_max=3" in page.locator("#curl").inner_text()
    page.goto(f"{env.url}/records?offset_min=2")
    expect(page.locator("#filter-error")).to_contain_text("offset_min")
    shoot(page, env, "records-kafka-filters")
