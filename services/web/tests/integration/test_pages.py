"""The web UI against a real uvicorn server, a schema of the test's own filled through the
ingestor's code, and (for Submit) a unique Kafka topic read back with the contract headers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading

import httpx
import psycopg2
from kafka import KafkaConsumer
from psycopg2 import sql

from devstack.testing import TEST_JWT_SECRET, bearer, free_port
from streamsuite_common.contract import DeadLetter
from streamsuite_common.db import connect_kwargs
from streamsuite_ingestor.migrate import migrate

from ..conftest import (
    XSS_IMG,
    XSS_SCRIPT,
    running_ingestor,
    serving,
    unique,
    wait_for,
    web_config,
)

ROW_IDS = re.compile(r'<tr data-id="(\d+)"')


def row_ids(html: str) -> list[int]:
    return [int(i) for i in ROW_IDS.findall(html)]


def test_records_newest_first_and_filters_narrow_the_table(web, filler):
    ada, bob, city = filler.add({"name": "Ada", "age": 36}, {"name": "Bob", "age": 17},
                                {"address": {"city": "London"}})  # fmt: skip
    assert row_ids(web.get("/records").text) == [city, bob, ada]
    assert row_ids(web.get("/records?kind=relational").text) == [bob, ada]
    assert row_ids(web.get("/records?key=address.city&value=London").text) == [city]
    assert row_ids(web.get("/records?age_min=18&age_max=&name=").text) == [ada]
    page = web.get("/records?age_min=old")
    assert page.status_code == 400
    assert "age_min: expected a whole number" in page.text


def test_paging_follows_the_cursor_to_older_records(reader_settings, schema, filler):
    ids = filler.add(*[{"n": n} for n in range(5)])
    with serving(web_config(reader_settings, schema, page_size=2)) as web:
        seen, url = [], "/records"
        while url:
            page = web.get(url)
            seen += row_ids(page.text)
            found = re.search(r'href="([^"]+)" rel="next"', page.text)
            url = found.group(1).replace("&amp;", "&") if found else None
        assert seen == sorted(ids, reverse=True)
        forged = web.get("/records?cursor=abc.def")
        assert forged.status_code == 400
        assert "cursor: invalid" in forged.text


def test_record_page_shows_provenance_and_links_the_raw_json(web, filler):
    [record_id] = filler.add({"name": "Ada", "age": 36, "tags": ["x", {"deep": 1.50}]},
                             source="people.yaml")  # fmt: skip
    page = web.get(f"/records/{record_id}")
    assert page.status_code == 200
    assert "people.yaml" in page.text
    assert f"{filler.topic}" in page.text
    assert f'href="/records/{record_id}.json"' in page.text
    assert "<details open" in page.text
    assert '"deep"' not in page.text
    raw = web.get(f"/records/{record_id}.json")
    assert raw.headers["content-type"] == "application/json"
    assert raw.json()["payload"]["tags"][1] == {"deep": 1.50}
    assert web.get("/records/999999999").status_code == 404


def test_every_data_value_is_escaped(web, filler):
    [record_id] = filler.add({"name": XSS_SCRIPT, "note": XSS_IMG, XSS_IMG: 1}, source=XSS_IMG)
    filler.dead_letter("invalid-json", XSS_SCRIPT.encode(), source=XSS_IMG, detail=XSS_IMG)
    letter_id = re.search(r'data-id="(\d+)"', web.get("/dead-letters").text).group(1)
    for path in ("/records", f"/records/{record_id}", "/dead-letters",
                 f"/dead-letters/{letter_id}", "/status"):  # fmt: skip
        html = web.get(path).text
        assert "<script>window" not in html, path
        assert "<img src=x" not in html, path
    assert "&lt;script&gt;window.__xss" in web.get(f"/records/{record_id}").text
    assert "&lt;script&gt;window.__xss" in web.get(f"/dead-letters/{letter_id}").text
    assert "&lt;img src=x onerror=" in web.get("/dead-letters").text
    headers = web.get("/records").headers
    assert "script-src 'self'" in headers["content-security-policy"]


def test_large_documents_are_truncated_with_a_link_to_the_whole(reader_settings, schema, filler):
    [record_id] = filler.add({"items": list(range(300)), "long": "z" * 5000})
    with serving(web_config(reader_settings, schema, document_max_nodes=50,
                            string_max_chars=100)) as web:  # fmt: skip
        page = web.get(f"/records/{record_id}").text
        assert 'id="truncated"' in page
        assert "50 of 303 values" in page
        assert "z" * 101 not in page
        assert len(web.get(f"/records/{record_id}.json").json()["payload"]["items"]) == 300


def test_status_shows_the_real_numbers_and_chart(web, filler):
    filler.add({"name": "Ada", "age": 36}, {"x": 1}, {"y": 2})
    filler.dead_letter("invalid-json", b"{")
    page = web.get("/status").text
    assert re.search(r'id="records-total">3<', page)
    assert re.search(r'id="records-relational">1<', page)
    assert re.search(r'id="records-unstructured">2<', page)
    assert re.search(r'id="dead-letters-total"><a href="/dead-letters">1<', page)
    counts = [int(c) for c in re.findall(r'class="bar bar-records"[^>]*data-count="(\d+)"', page)]
    assert len(counts) == 60
    assert sum(counts) == 3
    dead = [
        int(c) for c in re.findall(r'class="bar bar-dead-letters"[^>]*data-count="(\d+)"', page)
    ]
    assert (len(dead), sum(dead)) == (60, 1)
    p95 = [
        float(c) for c in re.findall(r'class="bar bar-latency"[^>]*data-count="([\d.e-]+)"', page)
    ]
    assert len(p95) == 60
    assert sum(1 for value in p95 if value > 0) >= 1  # stored moments after it was produced
    # each chart's text alternative: the minutes with a value, in a table
    assert re.search(r'id="dead-letters-table".*?<td>\d\d:\d\d</td><td>1 dead letter</td>', page,
                     re.S)  # fmt: skip
    assert re.search(r'id="latency-table".*?<td>[\d.e-]+ s</td>', page, re.S)
    assert "Data is flowing" in page
    assert '<noscript><meta http-equiv="refresh" content="15"></noscript>' in page
    assert re.search(r'data-dependency="PostgreSQL" class="ok"', page)


def test_dead_letters_show_reason_origin_stage_and_raw_content(web, filler):
    filler.dead_letter("invalid-yaml", b"a: [ raw-bytes-here\n", source="bad.yaml",
                       detail="line 2 column 1")  # fmt: skip
    page = web.get("/dead-letters").text
    for text in ("invalid-yaml", "publisher / parse", "bad.yaml", "line 2 column 1"):
        assert text in page
    assert "invalid-yaml" not in web.get("/dead-letters?reason=other").text
    # The list leaves the raw bytes out (up to 256 KiB each); the letter's own page has them.
    assert "raw-bytes-here" not in page
    letter_id = re.search(r'<article class="card letter" data-id="(\d+)"', page).group(1)
    assert f'<a href="/dead-letters/{letter_id}">Raw content (20 bytes)</a>' in page
    detail = web.get(f"/dead-letters/{letter_id}")
    assert detail.status_code == 200
    for text in ("invalid-yaml", "publisher / parse", "bad.yaml", "a: [ raw-bytes-here"):
        assert text in detail.text
    assert web.get("/dead-letters/999999999").status_code == 404


def test_live_feed_sends_rows_stored_after_it_opened(web, filler):
    before = filler.add({"name": "Old", "age": 1})[0]
    got: list[dict] = []
    done = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", f"{web.base_url}/events?after={before}&kind=relational",
                          headers=web.headers, timeout=30) as response:  # fmt: skip
            for line in response.iter_lines():
                if line.startswith("data: "):
                    got.append(json.loads(line[6:]))
                    done.set()
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    filler.add({"unrelated": True})
    [new] = filler.add({"name": "New <b>", "age": 2})
    assert done.wait(20), "no live event"
    assert got[0]["id"] == new
    assert f'data-id="{new}"' in got[0]["html"]
    assert "New &lt;b&gt;" in got[0]["html"]


async def _open_at_once(base_url: str, path: str, clients: int) -> list[int]:
    """Status codes of ``clients`` streams opened concurrently, all held open until every
    one has its answer (so no accepted stream can end and free its slot in between)."""
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=30, headers=bearer()) as client,
        contextlib.AsyncExitStack() as streams,
    ):

        async def open_one() -> int:
            response = await streams.enter_async_context(client.stream("GET", path))
            return response.status_code

        return list(await asyncio.gather(*(open_one() for _ in range(clients))))


def test_live_client_limit_holds_for_clients_connecting_at_once(reader_settings, schema):
    with serving(web_config(reader_settings, schema, stream_max_clients=3)) as web:
        codes = asyncio.run(_open_at_once(str(web.base_url), "/events", 40))
        assert codes.count(200) == 3, codes
        assert codes.count(503) == 37, codes
        wait_for(
            lambda: asyncio.run(_open_at_once(str(web.base_url), "/events", 3)) == [200] * 3,
            what="the three slots given back",
        )


def test_submit_publishes_with_the_contract_headers(reader_settings, schema, test_kafka):
    with serving(web_config(reader_settings, schema, kafka=test_kafka)) as web:
        page = web.get("/submit")
        assert page.status_code == 200
        assert 'href="/submit"' in page.text
        posted = web.post("/submit", data={"content": "name: Ada\nage: 36\n---\nx: [1, 2]\n",
                                           "format": "auto"})  # fmt: skip
        assert posted.status_code == 200, posted.text
        source = re.search(r'<code class="source">([^<]+)</code>', posted.text).group(1)
        assert source.startswith("web/")
        assert source.endswith("-pasted.yaml")
        assert "Published 2 documents" in posted.text
        bad = web.post("/submit", data={"content": '{"a": 1,}', "format": "auto"})
        assert bad.status_code == 422
        assert "invalid-json" in bad.text
        assert "line 1 column 9" in bad.text
        upload = web.post("/submit", files={"file": ("d.ndjson", b'{"k": 1}\n', "text/plain")},
                          data={"content": ""})  # fmt: skip
        assert "Published 1 document" in upload.text
        assert "-d.ndjson" in upload.text
        empty = web.post("/submit", data={"content": " "})
        assert empty.status_code == 400
        assert "nothing to submit" in empty.text
        foreign = web.post("/submit", data={"content": "a: 1"},
                           headers={"Origin": "http://evil.example"})  # fmt: skip
        assert foreign.status_code == 403
        assert web.get("/readyz").json()["optional"] == {"kafka": "ok"}

    consumer = KafkaConsumer(test_kafka.topic, test_kafka.dlq_topic,
                             bootstrap_servers=list(test_kafka.bootstrap_servers),
                             auto_offset_reset="earliest", isolation_level="read_committed",
                             group_id=unique("web-test-read"))  # fmt: skip
    messages = []
    try:
        wait_for(lambda: messages.extend(
            m for batch in consumer.poll(timeout_ms=500).values() for m in batch
        ) or len(messages) >= 4, timeout_s=30, what="4 messages")  # fmt: skip
    finally:
        consumer.close()
    documents = [m for m in messages if m.topic == test_kafka.topic]
    by_source = {}
    for m in documents:
        headers = {k: v.decode() for k, v in m.headers}
        assert set(headers) == {"source", "sha256", "doc-index", "content-type", "produced-at"}
        assert m.key.decode() == headers["source"]
        by_source.setdefault(headers["source"], []).append((headers["doc-index"], m.value))
    assert sorted(by_source[source]) == [("0", b'{"name":"Ada","age":36}'), ("1", b'{"x":[1,2]}')]
    [letter] = [DeadLetter.from_message(m.value) for m in messages if m.topic != test_kafka.topic]
    assert (letter.origin, letter.reason) == ("web", "invalid-json")


def test_submit_accepts_browser_posts_only_from_the_configured_origins(
    reader_settings, schema, test_kafka
):
    def post(web: httpx.Client, **headers: str) -> int:
        # Blank content: an accepted post answers 400 "nothing to submit" and publishes nothing.
        return web.post("/submit", data={"content": " "}, headers=headers).status_code

    with serving(web_config(reader_settings, schema, kafka=test_kafka)) as web:
        port = web.base_url.port
        assert post(web) == 400  # no Origin: not a browser
        assert post(web, Origin=f"http://127.0.0.1:{port}") == 400
        assert post(web, Origin=f"http://localhost:{port}", Host=f"localhost:{port}") == 400
        # DNS rebinding: the attacker's name resolves to us, so Host and Origin agree.
        assert post(web, Origin=f"http://evil.example:{port}", Host=f"evil.example:{port}") == 403
        assert post(web, Origin=f"https://127.0.0.1:{port}") == 403  # https on the http port
        assert post(web, Origin="null") == 403
    public = "https://streamsuite.example.com"
    with serving(web_config(reader_settings, schema, kafka=test_kafka,
                            public_origins=(f"{public}:443",))) as web:  # fmt: skip
        assert post(web, Origin=public, Host="streamsuite.example.com") == 400
        assert post(web, Origin=f"http://127.0.0.1:{web.base_url.port}") == 403


def test_submit_can_be_switched_off(web):
    assert 'href="/submit"' not in web.get("/records").text
    assert web.get("/submit").status_code == 404
    assert web.post("/submit", data={"content": "a: 1"}).status_code == 404
    assert set(web.get("/readyz").json()["checks"]) == {"postgres", "tables"}


def test_health_ready_and_metrics(web):
    assert web.get("/healthz").json() == {"status": "alive"}
    assert web.get("/readyz").status_code == 200
    web.get("/records")
    metrics = web.get("/metrics").text
    assert 'streamsuite_web_requests_total{method="GET",route="/records",status="200"}' in metrics
    assert "streamsuite_web_dependency_up" in metrics


def test_cli_config_error_exits_2_with_one_line_and_sigterm_exits_0(
    tmp_path, reader_settings, schema
):
    bad = tmp_path / "bad.yaml"
    bad.write_text("WEB:\n  PAGE_SIZE: 0\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSUITE_")}
    result = subprocess.run([sys.executable, "-m", "streamsuite_web", "--cfg", str(bad)],
                            capture_output=True, text=True, env=env, timeout=30)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "config error" in result.stderr

    cfg = web_config(reader_settings, schema)
    good = tmp_path / "web.yaml"
    good.write_text(json.dumps({
        "DATABASE": {"HOST": cfg.database.host, "PORT": cfg.database.port,
                     "DBNAME": cfg.database.dbname, "DBUSER": cfg.database.dbuser,
                     "SCHEMA": schema, "SSLMODE": "disable"},
        "HTTP": {"HOST": "127.0.0.1", "PORT": cfg.http.port},
        "WEB": {"SUBMIT_ENABLED": False}, "LOG": {"FORMAT": "json"},
        "AUTH": {"JWT_SECRET": TEST_JWT_SECRET},
    }))  # fmt: skip
    env["STREAMSUITE_DATABASE__USER_PWD"] = cfg.database.user_pwd
    proc = subprocess.Popen([sys.executable, "-m", "streamsuite_web", "--cfg", str(good)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{cfg.http.port}"
        with httpx.Client(base_url=url, timeout=5, headers=bearer()) as client:
            # an open live feed must not hold the shutdown back
            def ready() -> bool:
                try:
                    return client.get("/readyz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(ready, timeout_s=30, what="the web process")
            with client.stream("GET", "/events") as feed:
                next(feed.iter_lines())
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = proc.stdout.read().decode().splitlines()
    assert any(json.loads(line).get("event") == "web UI stopped" for line in lines)


def test_ready_while_kafka_is_down_and_submit_says_it_is_unavailable(
    reader_settings, schema, test_kafka
):
    # The UI reads PostgreSQL only: a Kafka outage must not take every page out of the Service.
    down = dataclasses.replace(test_kafka, bootstrap_servers=(f"127.0.0.1:{free_port()}",))
    with serving(web_config(reader_settings, schema, kafka=down)) as web:
        ready = web.get("/readyz", timeout=30)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"postgres": "ok", "tables": "ok"}
        assert "kafka unreachable" in ready.json()["optional"]["kafka"]
        form = web.get("/submit", timeout=30)
        assert form.status_code == 200
        assert 'id="kafka-unavailable"' in form.text
        assert "Submit is unavailable" in form.text
        assert web.get("/records").status_code == 200


def test_not_ready_on_a_first_install_until_the_migrations_created_the_tables(
    admin_conn, writer_settings, reader_settings
):
    name = unique("web_first_install")
    try:
        with serving(web_config(reader_settings, name)) as web:
            waiting = web.get("/readyz")
            assert waiting.status_code == 503
            assert waiting.json()["checks"]["postgres"] == "ok"
            assert (
                f"no table records, dead_letters in schema {name} yet"
                in (waiting.json()["checks"]["tables"])
            )
            writer = dataclasses.replace(writer_settings, schema=name)
            conn = psycopg2.connect(**connect_kwargs(writer, application_name="first-install"))
            try:
                migrate(conn, name, reader_role=reader_settings.dbuser)
            finally:
                conn.close()
            wait_for(lambda: web.get("/readyz").status_code == 200, timeout_s=15,
                     what="ready once the tables exist")  # fmt: skip
            assert web.get("/records").status_code == 200
    finally:
        with admin_conn.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def test_status_shows_consumer_lag_per_partition_from_kafka(
    reader_settings, writer_settings, schema, test_kafka
):
    """Lag from the group's committed offset to the last stable offset, counting messages:
    0 while the ingestor keeps up (the commit marker after its last document is no lag), the
    documents waiting once it is stopped."""
    group = unique("web-lag-ingestor")

    def lag_of(web) -> int | None:
        page = web.get("/status").text
        found = re.search(
            rf'<tr data-group="{group}" data-partition="0">.*?lag-value[^"]*">(\d+)<', page
        )
        return int(found.group(1)) if found else None

    def stored(web) -> int:
        return int(re.search(r'id="records-total">(\d+)<', web.get("/status").text).group(1))

    with serving(web_config(reader_settings, schema, kafka=test_kafka)) as web:
        with running_ingestor(test_kafka, writer_settings, reader_settings.dbuser, schema,
                              group_id=group):  # fmt: skip
            assert web.post("/submit", data={"content": '{"lag": 1}'}).status_code == 200
            wait_for(lambda: stored(web) == 1, what="the document stored")
            wait_for(lambda: lag_of(web) == 0, what="lag 0 while the ingestor keeps up")
        for n in range(3):
            assert web.post("/submit", data={"content": f'{{"lag": {n}}}'}).status_code == 200
        # three transactions of one document each: 3 messages (and 4 markers, not counted)
        wait_for(lambda: lag_of(web) == 3, what="three documents waiting")
