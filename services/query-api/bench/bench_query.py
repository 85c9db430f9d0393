"""Requests/s and latency of the query API on the running local stack (`make up`).

Fills a schema of its own with N records through the ingestor's Store (the writer role),
starts `python -m streamsuite_query_api` against it as the reader role, and loads it from this
process (a separate one) with concurrent clients: a key/value list query and a by-id fetch.
The schema is dropped afterwards.

    .venv/bin/python services/query-api/bench/bench_query.py [--records 100000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg2
import yaml
from psycopg2 import sql

from devstack.settings import StackSettings
from devstack.stack import read_env_file
from streamsuite_common.config import DatabaseSettings
from streamsuite_common.contract import document_headers
from streamsuite_common.db import connect_kwargs
from streamsuite_ingestor.decode import decode_document
from streamsuite_ingestor.migrate import migrate
from streamsuite_ingestor.routes import all_routes
from streamsuite_ingestor.store import Store


@dataclasses.dataclass
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes
    headers: list
    key: bytes | None = None
    timestamp: int = 0
    timestamp_type: int = 0


def role(env: dict[str, str], name: str, schema: str) -> DatabaseSettings:
    return DatabaseSettings(
        host=env["DEVSTACK_PG_HOST"], port=int(env["DEVSTACK_PG_PORT"]),
        dbname=env["DEVSTACK_PG_DBNAME"], dbuser=env[f"DEVSTACK_{name}_ROLE"],
        user_pwd=Path(env[f"DEVSTACK_{name}_PASSWORD_FILE"]).read_text().strip(),
        sslmode="disable", schema=schema,
    )  # fmt: skip


def fill(writer: DatabaseSettings, reader_role: str, count: int) -> None:
    conn = psycopg2.connect(**connect_kwargs(writer, application_name="bench-migrate"))
    migrate(conn, writer.schema, reader_role=reader_role)
    conn.close()
    store = Store(writer, all_routes(), application_name="bench-fill")
    now = datetime.now(UTC)
    batch = 5000
    for start in range(0, count, batch):
        rows = []
        for n in range(start, min(start + batch, count)):
            doc = {"seq": n, "group": f"g{n % 1000}", "tags": [n % 7, n % 11], "nested": {"v": n}}
            if n % 2:
                doc = {"name": f"person {n}", "age": n % 100}
            raw = json.dumps(doc).encode()
            headers = document_headers(source=f"bench/{n}.json",
                                       sha256=hashlib.sha256(raw).hexdigest(), doc_index=0,
                                       produced_at=now)  # fmt: skip
            rows.append(
                decode_document(Message("bench", 0, n, raw, headers), all_routes(), 1 << 20)
            )
        store.write(rows, [])
    with store.connection() as c, c.cursor() as cur:
        cur.execute("ANALYZE records")
    store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(base: str, make_path, seconds: float, clients: int) -> dict:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        mine, bad = [], 0
        with httpx.Client(base_url=base, timeout=30) as client:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                response = client.get(make_path())
                mine.append(time.perf_counter() - started)
                bad += response.status_code != 200
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    env = read_env_file(StackSettings.from_env().env_file)
    schema = f"bench_query_{uuid.uuid4().hex[:8]}"
    writer, reader = role(env, "WRITER", schema), role(env, "READER", schema)
    admin = psycopg2.connect(env["DEVSTACK_PG_ADMIN_DSN"], dbname=env["DEVSTACK_PG_DBNAME"])
    admin.autocommit = True
    server = None
    try:
        began = time.monotonic()
        fill(writer, reader.dbuser, args.records)
        print(f"filled {args.records} records in {time.monotonic() - began:.1f}s ({schema})")
        port = free_port()
        cfg = {
            "DATABASE": {"HOST": reader.host, "PORT": reader.port, "DBNAME": reader.dbname,
                         "DBUSER": reader.dbuser, "SCHEMA": schema, "SSLMODE": "disable"},
            "HTTP": {"HOST": "127.0.0.1", "PORT": port},
            "LOG": {"LEVEL": "warning", "FORMAT": "json"},
            "QUERY_API": {"POOL_SIZE": args.clients},
        }  # fmt: skip
        cfg_file = Path(tempfile.mkstemp(suffix=".yaml")[1])
        cfg_file.write_text(yaml.safe_dump(cfg))
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSUITE_")}
        child_env["STREAMSUITE_DATABASE__USER_PWD"] = reader.user_pwd
        server = subprocess.Popen([sys.executable, "-m", "streamsuite_query_api", "--cfg",
                                   str(cfg_file)], env=child_env)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("query API did not become ready")
            time.sleep(0.1)
        with admin.cursor() as cur:
            cur.execute(sql.SQL("SELECT min(id), max(id) FROM {}.records").format(
                sql.Identifier(schema)))  # fmt: skip
            low, high = cur.fetchone()
        rng = random.Random(1)  # noqa: S311 - sampling ids, not secrets
        cases = {
            "key/value list (group=gN, ~50 matches, limit 50)":
                lambda: f"/api/v1/records?key=group&value=g{rng.randrange(0, 1000, 2)}",
            "record by id": lambda: f"/api/v1/records/{rng.randint(low, high)}",
        }  # fmt: skip
        for name, make_path in cases.items():
            load(base, make_path, 1.0, args.clients)  # warm-up
            result = load(base, make_path, args.seconds, args.clients)
            print(
                f"{name}: {result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
                f"p99 {result['p99_ms']:.1f} ms, {result['requests']} requests, "
                f"{result['errors']} errors ({args.clients} clients, {args.seconds:g}s)"
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        admin.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
