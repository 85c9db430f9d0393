"""The service as deployed: documents travel Kafka → the real ingestor → PostgreSQL → the API;
health, readiness and metrics; a database outage is a 503 with Retry-After; the command line
exits 2 on a config error and 0 on SIGTERM, even with a stream open."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime

import httpx
import psycopg2
import yaml
from prometheus_client import CollectorRegistry
from psycopg2 import sql

from devstack.testing import TEST_JWT_SECRET, bearer
from streamsuite_common.config import HttpSettings, LogSettings
from streamsuite_common.contract import document_headers
from streamsuite_common.db import connect_kwargs
from streamsuite_common.kafka import connect_producer
from streamsuite_common.query.steps import ask
from streamsuite_ingestor.config import IngestorConfig, IngestorSettings
from streamsuite_ingestor.metrics import Metrics
from streamsuite_ingestor.migrate import migrate
from streamsuite_ingestor.routes import all_routes
from streamsuite_ingestor.service import Ingestor

from .conftest import api_config, free_port, serving, unique, wait_for


def test_documents_sent_through_kafka_and_the_ingestor_are_served(
    api, kafka_settings, make_topic, writer_settings, reader_settings, schema
):
    topic, dlq = make_topic("records", partitions=2), make_topic("records.dlq")
    documents = [{"name": "Ada Lovelace", "age": 36}, {"city": {"name": "Zürich"}}, b"{broken"]
    producer = connect_producer(kafka_settings)
    for index, document in enumerate(documents):
        raw = document if isinstance(document, bytes) else json.dumps(document).encode()
        headers = document_headers(source="kafka.json", sha256=hashlib.sha256(b"f").hexdigest(),
                                   doc_index=index, produced_at=datetime.now(UTC))  # fmt: skip
        producer.send(topic, key=b"kafka.json", value=raw, headers=headers)
    producer.flush(timeout=30)
    producer.close()
    cfg = IngestorConfig(
        kafka=dataclasses.replace(kafka_settings, topic=topic, dlq_topic=dlq),
        database=dataclasses.replace(writer_settings, schema=schema),
        log=LogSettings(level="warning", format="json"),
        http=HttpSettings(host="127.0.0.1", port=0),
        ingestor=IngestorSettings(group_id=unique("ingestor"), batch_timeout_ms=100,
                                  session_timeout_s=6.0, reader_role=reader_settings.dbuser),
    )  # fmt: skip
    stop = threading.Event()
    ingestor = Ingestor(cfg, all_routes(), Metrics(CollectorRegistry()), stop=stop)
    thread = threading.Thread(target=ingestor.run, daemon=True)
    thread.start()
    try:
        stats = wait_for(
            lambda: (
                (s := api.get("/api/v1/stats").json())["records"]["total"] == 2
                and s["dead_letters"]["total"] == 1
                and s
            ),
            timeout_s=60,
            what="two records and one dead letter via Kafka",
        )
    finally:
        stop.set()
        thread.join(timeout=60)
    assert stats["records"]["by_kind"] == {"relational": 1, "unstructured": 1}
    assert stats["dead_letters"]["by_reason"] == {"invalid-json": 1}
    city = api.get("/api/v1/records", params={"key": "city.name", "value": "Zürich"}).json()
    [record] = city["items"]
    assert record["kafka"]["topic"] == topic
    assert record["doc_index"] == 1
    [letter] = api.get("/api/v1/dead-letters").json()["items"]
    assert letter["raw_bytes"] == 7
    detail = api.get(f"/api/v1/dead-letters/{letter['id']}").json()
    assert detail["raw_base64"] == "e2Jyb2tlbg=="
    assert letter["kafka"]["topic"] == topic


def test_health_readiness_metrics_and_openapi(api, filler):
    filler.add({"n": 1})
    assert api.get("/healthz").json() == {"status": "alive"}
    assert api.get("/readyz").json() == {"status": "ready",
                                         "checks": {"postgres": "ok", "tables": "ok"}}  # fmt: skip
    api.get("/api/v1/records/1")
    api.get("/api/v1/records", params={"limit": 0})
    text = api.get("/metrics").text
    assert ('streamsuite_query_api_requests_total{method="GET",route="/api/v1/records/{record_id}"'
            ',status="200"} 1.0') in text  # fmt: skip
    assert 'route="/api/v1/records",status="400"} 1.0' in text
    assert "streamsuite_query_api_request_seconds_bucket" in text
    assert 'streamsuite_query_api_db_pool_connections{state="size"} 4.0' in text
    spec = api.get("/openapi.json").json()
    params = {p["name"] for p in spec["paths"]["/api/v1/records"]["get"]["parameters"]}
    assert {"key", "value", "has_key", "contains", "jsonpath", "cursor", "limit"} <= params
    post = spec["paths"]["/api/v1/query_unstructured_data"]["post"]
    assert "examples" in post["requestBody"]["content"]["application/json"]
    # What is sent: problems as application/problem+json, never FastAPI's unused 422.
    records = spec["paths"]["/api/v1/records"]["get"]["responses"]
    assert "422" not in records
    assert list(records["400"]["content"]) == ["application/problem+json"]
    assert "504" in records
    assert api.get("/docs").status_code == 200


def test_docs_page_loads_everything_from_the_service_itself(api):
    # An air-gapped cluster: the page must name no other host, and what it names must load.
    import re

    page = api.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    assert not [url for url in urls if "//" in url], urls
    for url in urls:
        response = api.get(url)
        assert response.status_code == 200, url
    assert "SwaggerUIBundle" in api.get("/docs/assets/swagger-ui-bundle.js").text


def test_pooled_connections_are_reused_not_reopened_per_request(api, filler):
    # Found by the benchmark: psycopg2's pool with minconn=0 closed every connection it got
    # back, so each request paid a new PostgreSQL login (~7 ms, ~170 req/s on by-id fetches).
    [record_id] = filler.add({"n": 1})
    db = api.app.state.ctx.db
    for _ in range(5):
        assert api.get(f"/api/v1/records/{record_id}").status_code == 200
    assert 1 <= db.idle <= db.size
    first, second = (db.read_from_thread(_backend_pid) for _ in range(2))
    assert first == second


def _backend_pid():
    return (yield ask(("SELECT pg_backend_pid()", {})))[0][0]


def test_database_outage_is_a_503_with_retry_after(reader_settings, schema):
    cfg = api_config(reader_settings, schema, pool_timeout_s=1.0)
    down = dataclasses.replace(cfg.database, port=free_port(), connect_timeout_s=1)
    with serving(dataclasses.replace(cfg, database=down)) as client:
        for path in ("/api/v1/records", "/api/v1/records/1", "/api/v1/stats",
                     "/api/v1/dead-letters"):  # fmt: skip
            response = client.get(path)
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "5"
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["code"] == "database-unavailable"
            assert "database" in problem["detail"]
            # PostgreSQL's own words name the host and port: they stay in the log.
            assert str(down.port) not in response.text
            assert down.host not in response.text
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "not ready"
        assert client.get("/healthz").status_code == 200


def _cli(tmp_path, cfg_tree: dict, password: str | None = None) -> subprocess.Popen:
    path = tmp_path / "query-api.yaml"
    path.write_text(yaml.safe_dump(cfg_tree))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSUITE_")}
    if password is not None:
        env["STREAMSUITE_DATABASE__USER_PWD"] = password
    return subprocess.Popen([sys.executable, "-m", "streamsuite_query_api", "--cfg", str(path)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def test_config_error_exits_2_with_one_line(tmp_path):
    process = _cli(tmp_path, {"DATABASE": {"HOST": "x", "DBNAME": "d", "DBUSER": "u"},
                              "QUERY_API": {"POOL_SIZ": 3}})  # fmt: skip
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert err.decode().strip() == (
        "streamsuite-query-api: config error: QUERY_API.POOL_SIZ: unknown key "
        "(did you mean POOL_SIZE?)"
    )


def test_sigterm_stops_cleanly_with_a_stream_open(tmp_path, reader_settings, schema):
    port = free_port()
    db = reader_settings
    tree = {
        "DATABASE": {"HOST": db.host, "PORT": db.port, "DBNAME": db.dbname, "DBUSER": db.dbuser,
                     "SCHEMA": schema, "SSLMODE": "disable"},
        "HTTP": {"HOST": "127.0.0.1", "PORT": port},
        "LOG": {"FORMAT": "json"},
        "QUERY_API": {"STREAM_HEARTBEAT_S": 30},
        "AUTH": {"JWT_SECRET": TEST_JWT_SECRET},
    }  # fmt: skip
    process = _cli(tmp_path, tree, db.user_pwd)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, timeout_s=30, what="the query API to be ready")
        opened = threading.Event()

        def listen() -> None:
            with httpx.stream("GET", f"{base}/api/v1/stream", headers=bearer(),
                              timeout=60) as response:  # fmt: skip
                for _ in response.iter_lines():
                    opened.set()

        reader = threading.Thread(target=listen, daemon=True)
        reader.start()
        assert opened.wait(10)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    reader.join(timeout=10)
    assert not reader.is_alive(), "the stream was not ended"
    assert b"query API stopped" in out


def test_not_ready_on_a_first_install_until_the_migrations_created_the_tables(
    admin_conn, writer_settings, reader_settings
):
    # PostgreSQL answers before the ingestor (or the migration Job) created the tables: a pod
    # ready then would take traffic it can only answer with errors.
    name = unique("query_api_first_install")
    try:
        with serving(api_config(reader_settings, name)) as client:
            waiting = client.get("/readyz")
            assert waiting.status_code == 503
            checks = waiting.json()["checks"]
            assert checks["postgres"] == "ok"
            assert f"no table records, dead_letters in schema {name} yet" in checks["tables"]
            writer = dataclasses.replace(writer_settings, schema=name)
            conn = psycopg2.connect(**connect_kwargs(writer, application_name="first-install"))
            try:
                migrate(conn, name, reader_role=reader_settings.dbuser)
            finally:
                conn.close()
            wait_for(lambda: client.get("/readyz").status_code == 200, timeout_s=15,
                     what="ready once the tables exist")  # fmt: skip
            assert client.get("/api/v1/records").status_code == 200
    finally:
        with admin_conn.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def test_a_statement_timeout_is_a_504_asking_for_an_indexed_filter(
    reader_settings, schema, admin_conn, filler
):
    filler.add({"n": 1})
    with serving(api_config(reader_settings, schema, statement_timeout_ms=300)) as client:
        # A writer holding the table: the read waits past its statement timeout, however
        # fast the machine is.
        admin_conn.autocommit = False
        try:
            with admin_conn.cursor() as cur:
                cur.execute(f'LOCK TABLE "{schema}".records IN ACCESS EXCLUSIVE MODE')
            response = client.get("/api/v1/records", params={"has_key": "n"})
        finally:
            admin_conn.rollback()
            admin_conn.autocommit = True
    assert response.status_code == 504, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "statement-timeout"
    assert "add an indexed filter" in problem["detail"]
