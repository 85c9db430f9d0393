"""Requests/s and latency of the query API on the running local stack, beside the same SQL run
directly against PostgreSQL with pgbench, for N stored records (default 1,000,000).

1. A schema of its own, migrated by the ingestor's migrations and filled server-side as the
   writer role (``INSERT ... SELECT generate_series``, secondary indexes rebuilt after): rows
   shaped as the ingestor stores them (relational ``{"name", "age"}`` with typed columns,
   unstructured ``{"seq", "group", "tags", "nested"}``; source/sha256/doc_index identity).
2. ``python -m streamsuite_query_api`` against it in its own process, as the reader role.
3. Load from this process (threads with keep-alive ``http.client`` connections): a key/value
   query ``GET /api/v1/records?key=group&value=gN`` and a by-id fetch, then pgbench with the
   very SELECTs the API issues (built by the shared query layer), same clients and duration.
4. One table: case, req/s, p50, p99 for the API and pgbench, and the ratio. The schema is
   dropped at the end.

    .venv/bin/python services/query-api/bench/bench_query.py [--records 1000000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg2
import yaml
from psycopg2 import sql

from devstack.settings import StackSettings
from devstack.stack import read_env_file
from streamsuite_common.config import DatabaseSettings
from streamsuite_common.db import connect_kwargs
from streamsuite_common.query import Page, RecordFilter
from streamsuite_common.query.sql import record_by_id_sql, records_page_sql
from streamsuite_ingestor.migrate import migrate

PGBENCH = Path(sys.prefix) / "lib/python3.11/site-packages/pgserver/pginstall/bin/pgbench"
GROUPS = 1000  # unstructured records carry "group": "g<n % 1000>" (even n: even groups)
FILL_SQL = """
INSERT INTO records (kind, route, source, sha256, doc_index, payload, name, age,
                     kafka_topic, kafka_partition, kafka_offset, produced_at, ingested_at)
SELECT CASE WHEN n %% 2 = 1 THEN 'relational' ELSE 'unstructured' END,
       CASE WHEN n %% 2 = 1 THEN 'person' END,
       'bench/' || (n / 100) || '.json',
       encode(sha256(convert_to('bench file ' || (n / 100), 'UTF8')), 'hex'),
       n %% 100,
       CASE WHEN n %% 2 = 1
            THEN jsonb_build_object('name', 'person ' || n, 'age', n %% 100)
            ELSE jsonb_build_object('seq', n, 'group', 'g' || (n %% %(groups)s),
                                    'tags', jsonb_build_array(n %% 7, n %% 11),
                                    'nested', jsonb_build_object('v', n))
       END,
       CASE WHEN n %% 2 = 1 THEN 'person ' || n END,
       CASE WHEN n %% 2 = 1 THEN n %% 100 END,
       'records', n %% 3, n / 3,
       now() - make_interval(secs => (%(count)s - n) / 1000.0) - interval '1 second',
       now() - make_interval(secs => (%(count)s - n) / 1000.0)
FROM generate_series(0, %(count)s - 1) AS n
"""


def role(env: dict[str, str], name: str, schema: str) -> DatabaseSettings:
    return DatabaseSettings(
        host=env["DEVSTACK_PG_HOST"], port=int(env["DEVSTACK_PG_PORT"]),
        dbname=env["DEVSTACK_PG_DBNAME"], dbuser=env[f"DEVSTACK_{name}_ROLE"],
        user_pwd=Path(env[f"DEVSTACK_{name}_PASSWORD_FILE"]).read_text().strip(),
        sslmode="disable", schema=schema,
    )  # fmt: skip


def fill(writer: DatabaseSettings, reader_role: str, count: int) -> None:
    """Migrate, then insert ``count`` rows server-side with the secondary indexes dropped and
    rebuilt afterwards (the same definitions the migration made)."""
    conn = psycopg2.connect(**connect_kwargs(writer, application_name="bench-fill"))
    try:
        migrate(conn, writer.schema, reader_role=reader_role)
        conn.autocommit = False
        with conn.cursor() as cur:
            cur.execute("SET maintenance_work_mem = '256MB'")
            cur.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s "
                "AND tablename = 'records' AND indexname <> 'records_pkey'",
                (writer.schema,),
            )
            indexes = cur.fetchall()
            for index_name, _ in indexes:
                cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(index_name)))
            cur.execute(FILL_SQL, {"count": count, "groups": GROUPS})
            for _, definition in indexes:
                cur.execute(definition)  # text from pg_indexes, not from input
        conn.commit()
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE records")
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_api(reader: DatabaseSettings, clients: int) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    cfg = {
        "DATABASE": {"HOST": reader.host, "PORT": reader.port, "DBNAME": reader.dbname,
                     "DBUSER": reader.dbuser, "SCHEMA": reader.schema, "SSLMODE": "disable"},
        "HTTP": {"HOST": "127.0.0.1", "PORT": port},
        "LOG": {"LEVEL": "warning", "FORMAT": "json"},
        "QUERY_API": {"POOL_SIZE": clients},
    }  # fmt: skip
    cfg_file = Path(tempfile.mkstemp(suffix=".yaml")[1])
    cfg_file.write_text(yaml.safe_dump(cfg))
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSUITE_")}
    child_env["STREAMSUITE_DATABASE__USER_PWD"] = reader.user_pwd
    server = subprocess.Popen([sys.executable, "-m", "streamsuite_query_api", "--cfg",
                               str(cfg_file)], env=child_env)  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            status, _ = get(http.client.HTTPConnection("127.0.0.1", port, timeout=5), "/readyz")
            if status == 200:
                return server, port, cfg_file
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("query API did not become ready")
        time.sleep(0.1)


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


@dataclasses.dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    count: int
    errors: int = 0


def load_api(port: int, make_path: Callable[[random.Random], str], seconds: float,
             clients: int) -> Result:  # fmt: skip
    """``clients`` threads, each one keep-alive connection, for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def worker(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)  # noqa: S311 - sampling ids, not secrets
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, bad = [], 0
        start.wait()
        while time.monotonic() < deadline:
            began = time.perf_counter()
            status, _ = get(conn, make_path(rng))
            mine.append(time.perf_counter() - began)
            bad += status != 200
        conn.close()
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds
    began = time.monotonic()
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    return Result(len(latencies) / elapsed, percentile(latencies, 0.5) * 1000,
                  percentile(latencies, 0.99) * 1000, len(latencies), errors)  # fmt: skip


def pgbench_script(admin, statement: tuple[str, dict], sets: str, marker: str, var: str) -> str:
    """The API's statement exactly as psycopg2 sends it (values inlined client-side), with the
    ``marker`` text of the sample value replaced by a pgbench variable set by ``sets``."""
    text, params = statement
    with admin.cursor() as cur:
        inlined = cur.mogrify(text, params).decode()
    assert marker in inlined, inlined
    return f"{sets}\n{inlined.replace(marker, ':' + var)};\n"


def run_pgbench(reader: DatabaseSettings, script: str, seconds: float, clients: int,
                workdir: Path, name: str) -> Result:  # fmt: skip
    script_file = workdir / f"{name}.sql"
    script_file.write_text(script)
    env = dict(
        os.environ,
        PGPASSWORD=reader.user_pwd,
        PGOPTIONS=(
            f"-c search_path={reader.schema} -c default_transaction_read_only=on -c TimeZone=UTC"
        ),
    )
    prefix = workdir / name
    command = [str(PGBENCH), "-n", "-M", "simple", "-c", str(clients),
               "-j", str(min(clients, 4)), "-T", f"{seconds:g}", "-f", str(script_file),
               "-l", f"--log-prefix={prefix}", "-h", reader.host, "-p", str(reader.port),
               "-U", reader.dbuser, reader.dbname]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=workdir,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"pgbench failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    latencies: list[float] = []
    failed = 0
    for log in workdir.glob(f"{name}.*"):
        if log.suffix == ".sql":
            continue
        for line in log.read_text().splitlines():
            fields = line.split()
            # client_id transaction_no time(us) script_no epoch epoch_us
            if fields[2] in ("failed", "skipped"):
                failed += 1
                continue
            latencies.append(int(fields[2]) / 1000)
    tps = next(float(line.split("=")[1].split()[0]) for line in done.stdout.splitlines()
               if line.startswith("tps ="))  # fmt: skip
    latencies.sort()
    return Result(tps, percentile(latencies, 0.5), percentile(latencies, 0.99), len(latencies),
                  failed)  # fmt: skip


def print_table(rows: list[tuple[str, Result, Result]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.records:,} records, {args.clients} concurrent clients, {args.seconds:g}s per "
        "run; API = HTTP through the query API (own process), pgbench = the same SELECT"
    )
    header = (f"{'case':<42} {'via':<8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'requests':>9} {'errors':>6}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for name, api, direct in rows:
        for via, result in (("API", api), ("pgbench", direct)):
            print(
                f"{name:<42} {via:<8} {result.rps:>8.0f} {result.p50_ms:>8.2f} "
                f"{result.p99_ms:>8.2f} {result.count:>9} {result.errors:>6}"
            )
        print(
            f"{'':<42} {'ratio':<8} {api.rps / direct.rps:>8.2f} "
            f"{api.p50_ms / direct.p50_ms:>8.1f} {api.p99_ms / direct.p99_ms:>8.1f}"
            "   (API / pgbench)"
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    env = read_env_file(StackSettings.from_env().env_file)
    schema = f"bench_query_{uuid.uuid4().hex[:8]}"
    writer, reader = role(env, "WRITER", schema), role(env, "READER", schema)
    admin = psycopg2.connect(env["DEVSTACK_PG_ADMIN_DSN"], dbname=env["DEVSTACK_PG_DBNAME"])
    admin.autocommit = True
    server = cfg_file = None
    try:
        began = time.monotonic()
        fill(writer, reader.dbuser, args.records)
        print(f"filled {args.records:,} records in {time.monotonic() - began:.1f}s ({schema})")
        server, port, cfg_file = start_api(reader, args.clients)
        with admin.cursor() as cur:
            cur.execute(sql.SQL("SELECT min(id), max(id) FROM {}.records").format(
                sql.Identifier(schema)))  # fmt: skip
            low, high = cur.fetchone()
        marker = "424242"
        cases = [
            (
                "key/value (key=group&value=gN, limit 50)",
                lambda rng: f"/api/v1/records?key=group&value=g{rng.randrange(0, GROUPS, 2)}",
                pgbench_script(admin, records_page_sql(RecordFilter(key=("group",),
                               value=f'"g{marker}"'), Page(limit=50)),
                               f"\\set grp random(0, {GROUPS // 2 - 1}) * 2", marker, "grp"),
            ),
            (
                "record by id",
                lambda rng: f"/api/v1/records/{rng.randint(low, high)}",
                pgbench_script(admin, record_by_id_sql(int(marker)),
                               f"\\set rid random({low}, {high})", marker, "rid"),
            ),
        ]  # fmt: skip
        rows = []
        with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as workdir:
            for number, (name, make_path, script) in enumerate(cases):
                load_api(port, make_path, 1.0, args.clients)  # warm-up
                api = load_api(port, make_path, args.seconds, args.clients)
                direct = run_pgbench(reader, script, args.seconds, args.clients,
                                     Path(workdir), f"case{number}")  # fmt: skip
                rows.append((name, api, direct))
        print_table(rows, args)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if cfg_file is not None:
            cfg_file.unlink(missing_ok=True)
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        admin.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
