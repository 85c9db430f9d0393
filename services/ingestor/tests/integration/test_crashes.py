"""Nothing lost, nothing duplicated: the ingestor killed at random points, PostgreSQL restarted
under it, and two ingestor processes sharing one consumer group."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import tempfile
import threading
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest

from devstack.postgres import LocalPostgres, provision, role_password
from devstack.settings import StackSettings
from devstack.testing import free_port, http_status, wait_for
from streamsuite_common.config import DatabaseSettings

from .conftest import Doc, produce, raw_doc

TOTAL = 5_000


def _stream_docs() -> tuple[list[Doc], list[Doc]]:
    """(documents with headers, documents without): some relational, some bad, all distinct."""
    with_headers, without = [], []
    for n in range(TOTAL):
        if n % 100 in (45, 99):
            value = f'{{"n": {n}, broken'.encode()  # a dead letter, with identity or without
        elif n % 3 == 0:
            value = json.dumps({"name": f"person {n}", "age": n % 151, "n": n}).encode()
        else:
            value = json.dumps({"n": n, "tags": ["a", "b"], "nested": {"n": n}}).encode()
        doc = raw_doc(f"stream/{n}.json", value)
        (without if n % 10 == 5 else with_headers).append(doc)
    return with_headers, without


GOOD = TOTAL - 2 * (TOTAL // 100)
BAD = 2 * (TOTAL // 100)


def _produce_in_background(
    kafka_settings, topic: str, second_half: threading.Event
) -> threading.Thread:
    """Produce in chunks; the second half waits for ``second_half``, so the test can make sure
    the stream is still flowing when it strikes."""
    with_headers, without = _stream_docs()

    def run() -> None:
        for start in range(0, TOTAL, 500):
            if start == TOTAL // 2:
                second_half.wait(timeout=120)
            produce(kafka_settings, topic, with_headers[start * 9 // 10 : (start + 500) * 9 // 10])
            produce(
                kafka_settings,
                topic,
                without[start // 10 : (start + 500) // 10],
                with_headers=False,
            )

    thread = threading.Thread(target=run, name="producer", daemon=True)
    thread.start()
    return thread


def _assert_every_document_once(query) -> None:
    numbers = [n for (n,) in query("SELECT (payload->>'n')::int FROM records")]
    assert len(numbers) == GOOD, f"{len(numbers)} rows for {GOOD} documents"
    assert sorted(numbers) == sorted(n for n in range(TOTAL) if n % 100 not in (45, 99))
    relational = query("SELECT count(*) FROM records WHERE kind = 'relational' AND age IS NOT NULL")
    assert relational == [
        (len([n for n in range(TOTAL) if n % 3 == 0 and n % 100 not in (45, 99)]),)
    ]
    letters = query("SELECT reason, count(*) FROM dead_letters GROUP BY reason")
    assert letters == [("invalid-json", BAD)]


def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    kafka_settings, topics, make_config, db, processes
):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kill_at = sorted(rng.sample(range(300, GOOD // 2), 3))
    cfg = make_config(batch_size=rng.choice([50, 200, 500]))
    second_half = threading.Event()
    producer = _produce_in_background(kafka_settings, topics[0], second_half)
    process = processes(cfg, "ingestor-0")
    for round_number, threshold in enumerate(kill_at, start=1):
        wait_for(
            lambda t=threshold: db.count() >= t,
            timeout_s=90,
            what=f"{threshold} records before kill {round_number} (seed {seed}): {process.tail()}",
        )
        process.kill()
        second_half.set()  # half the stream is still to come after the first kill
        process = processes(cfg, f"ingestor-{round_number}")
    producer.join(timeout=120)
    wait_for(
        lambda: db.count() == GOOD and db.count("dead_letters") == BAD,
        timeout_s=120,
        what=f"every record and dead letter (seed {seed}, kills at {kill_at}): {process.tail()}",
    )
    assert process.terminate() == 0, process.tail()  # SIGTERM: a clean exit
    _assert_every_document_once(db.query)


@pytest.fixture
def own_postgres():
    # Not under pytest's temp root: another pytest session resets that to 0700, which would
    # lock out the unprivileged user PostgreSQL runs as (when the tests run as root).
    var = Path(tempfile.mkdtemp(prefix="ingestor-pg-"))
    settings = dataclasses.replace(
        StackSettings.from_env(), var=var, pg_port=free_port(), database_url=None
    )
    server = LocalPostgres(settings)
    try:
        server.start()
        server.wait_ready()
        provision(server.endpoint, settings)
        yield server
    finally:
        server.stop()
        shutil.rmtree(var, ignore_errors=True)


def test_postgres_restart_mid_stream_loses_and_duplicates_nothing(
    kafka_settings, topics, make_config, processes, own_postgres, schema
):
    settings = own_postgres.settings
    database = DatabaseSettings(
        host="127.0.0.1", port=settings.pg_port, dbname=settings.database,
        dbuser=settings.writer_role, user_pwd=role_password(settings, settings.writer_role),
        schema=schema, sslmode="disable", connect_timeout_s=20,
    )  # fmt: skip
    port = free_port()
    cfg = make_config(database=database, reader_role=settings.reader_role, batch_size=200)
    cfg = dataclasses.replace(cfg, http=dataclasses.replace(cfg.http, port=port))

    def query(statement, params=()):
        conn = own_postgres.endpoint.admin_connect(settings.database)
        with closing(conn), conn.cursor() as cur:
            cur.execute(f"SET search_path TO {schema}")
            try:
                cur.execute(statement, params)
            except psycopg2.errors.UndefinedTable:  # not migrated yet
                return []
            return cur.fetchall()

    def count(table="records"):
        rows = query(f"SELECT count(*) FROM {table}")  # noqa: S608 - our own table names
        return rows[0][0] if rows else 0

    second_half = threading.Event()
    producer = _produce_in_background(kafka_settings, topics[0], second_half)
    process = processes(cfg)
    ready = f"http://127.0.0.1:{port}/readyz"
    wait_for(lambda: count() >= 1_000, timeout_s=90, what=f"1000 records: {process.tail()}")
    wait_for(lambda: http_status(ready) == 200, what="ready before the outage")

    own_postgres.stop()
    second_half.set()  # the stream goes on while PostgreSQL is down
    wait_for(lambda: http_status(ready) == 503, what="readiness 503 while PostgreSQL is down")
    assert http_status(f"http://127.0.0.1:{port}/healthz") == 200
    own_postgres.start()
    own_postgres.wait_ready()
    wait_for(lambda: http_status(ready) == 200, what="ready again after the outage")

    producer.join(timeout=120)
    wait_for(
        lambda: count() == GOOD and count("dead_letters") == BAD,
        timeout_s=120,
        what=f"every record after the restart: {process.tail()}",
    )
    assert "batch put back" in process.log_path.read_text()  # the outage was really seen
    assert process.terminate() == 0, process.tail()
    _assert_every_document_once(query)


def _assignment(log_path: Path) -> set[str] | None:
    """The partitions of the process's latest assignment, from its JSON log lines."""
    latest = None
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "partitions assigned":
            latest = set(event["partitions"])
        elif event.get("event") == "partitions revoked":
            latest = set()
    return latest


def _metric(port: int, name: str) -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def test_two_processes_in_one_group_split_partitions_and_store_each_record_once(
    kafka_settings, topics, make_config, db, processes
):
    ports = [free_port(), free_port()]
    base = make_config()
    procs = []
    for i, port in enumerate(ports):
        cfg = dataclasses.replace(base, http=dataclasses.replace(base.http, port=port))
        procs.append(processes(cfg, f"ingestor-{i}"))
    everything = {f"{topics[0]}:{p}" for p in range(3)} | {f"{topics[1]}:0"}

    def split() -> bool:
        parts = [_assignment(p.log_path) for p in procs]
        return (
            all(parts)
            and parts[0] | parts[1] == everything
            and not parts[0] & parts[1]
            and all(any(x.startswith(topics[0] + ":") for x in part) for part in parts)
        )

    wait_for(split, timeout_s=90, what=f"both processes assigned: {procs[1].tail()}")
    with_headers, _ = _stream_docs()
    docs = [d for d in with_headers if b"broken" not in d.value][:2_000]
    produce(kafka_settings, topics[0], docs)
    wait_for(lambda: db.count() == len(docs), timeout_s=90, what="every record")
    per_process = [_metric(port, "streamsuite_ingestor_records_total") for port in ports]
    assert all(n > 0 for n in per_process), per_process
    assert sum(per_process) == len(docs)
    assert db.query("SELECT count(DISTINCT source) FROM records") == [(len(docs),)]
    for p in procs:
        assert p.terminate() == 0, p.tail()
