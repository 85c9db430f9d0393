"""The web UI in headless Chromium (Debian's ``chromium``, driven by Playwright through its
executable path), against real servers: a web UI of the test's own on a schema fed by the real
ingestor from unique topics (Submit publishes there too), and one on the running stack's own
schema for the true end-to-end path (a file dropped in the stack's inbox). Screenshots of every
page at desktop and phone widths go to ``var/screenshots/``."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from playwright.sync_api import Page, expect

from streamsuite_common.db import connect_kwargs
from streamsuite_common.kafka import connect_admin, ensure_topics
from streamsuite_common.query import read as query_read

from ..conftest import (
    XSS_IMG,
    XSS_SCRIPT,
    filling,
    migrated_schema,
    running_ingestor,
    serving,
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
def env(stack_env, kafka_settings, writer_settings, reader_settings) -> Iterator[Env]:
    suffix = uuid.uuid4().hex[:10]
    topic, dlq = f"web.browser.{suffix}", f"web.browser.{suffix}.dlq"
    admin = connect_admin(kafka_settings)
    ensure_topics(admin, [topic, dlq], partitions=1)
    kafka = dataclasses.replace(kafka_settings, topic=topic, dlq_topic=dlq, connect_timeout_s=20)
    admin_conn = psycopg2.connect(stack_env["DEVSTACK_PG_ADMIN_DSN"],
                                  dbname=stack_env["DEVSTACK_PG_DBNAME"])  # fmt: skip
    admin_conn.autocommit = True
    shots = Path(stack_env.get("DEVSTACK_VAR", "var")) / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.ExitStack() as stack:
            schema = stack.enter_context(
                migrated_schema(admin_conn, writer_settings, reader_settings)
            )
            filler = stack.enter_context(filling(writer_settings, schema))
            ids = {
                "ada": filler.add(
                    {"name": "Ada Lovelace", "age": 36, "langs": ["en", "fr"]},
                    source="people/ada.yaml",
                )[0],
                "bob": filler.add({"name": "Bob", "age": 17})[0],
                "city": filler.add(
                    {"address": {"city": "London", "zip": "N1"}, "tags": ["x", "y"]}
                )[0],
                "xss": filler.add({"name": XSS_SCRIPT, "note": XSS_IMG}, source=XSS_IMG)[0],
            }
            filler.dead_letter("invalid-json", XSS_SCRIPT.encode(), source=XSS_IMG,
                               detail="Expecting value at line 1 column 1")  # fmt: skip
            filler.dead_letter("invalid-yaml", b"a: [\n", source="bad.yaml",
                               detail="expected ',' or ']' at line 2 column 1")  # fmt: skip
            stack.enter_context(
                running_ingestor(kafka, writer_settings, reader_settings.dbuser, schema)
            )
            web = stack.enter_context(serving(web_config(reader_settings, schema, kafka=kafka)))
            stack_web = stack.enter_context(
                serving(web_config(reader_settings, stack_env.get("DEVSTACK_SCHEMA",
                                                                  "streamsuite")))
            )  # fmt: skip
            yield Env(
                url=str(web.base_url).rstrip("/"),
                stack_url=str(stack_web.base_url).rstrip("/"),
                schema=schema,
                reader=dataclasses.replace(reader_settings, schema=schema),
                ids=ids,
                shots=shots,
                inbox=Path(stack_env.get("DEVSTACK_VAR", "var")) / "inbox",
            )
    finally:
        admin_conn.close()
        admin.delete_topics([topic, dlq])
        admin.close()


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
    page.locator(".letter details.raw summary").first.click()
    expect(page.locator(".letter pre").first).to_be_visible()
    expect(page.locator("#letters")).to_contain_text(XSS_SCRIPT)
    shoot(page, env, "dead-letters")
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.evaluate("typeof window.__xss") == "undefined"
