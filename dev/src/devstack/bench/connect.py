"""Contender: Kafka Connect 4.3.1 standalone with Debezium's JDBC sink (upsert, primary key =
the Kafka coordinates), into streamsuite's records table or the bare table.

The worker's jars and the plugin's come from Maven Central through bench/connect/*/pom.xml into
.cache/bench-connect; the plugin loads through plugin.path in its own class loader, so its
Jackson never meets the worker's. The value reaches the connector as a string (StringConverter)
hoisted into a ``payload`` field; the JDBC URL's stringtype=unspecified lets PostgreSQL cast it
to jsonb. On streamsuite's table the publisher's headers fill source/sha256/doc_index/produced_at
(Debezium's HeaderToValue) and kind is a constant: Connect does no relational projection.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from devstack.bench.database import BARE_TABLE, RowWatch, Stack
from devstack.bench.processes import Group
from devstack.bench.results import Sample

# What is fetched, for the results' versions line; the poms pin the same.
VERSIONS = (
    "Kafka Connect 4.3.1, Debezium JDBC sink 3.6.0.Final (Hibernate ORM 7.2.19.Final), "
    "PostgreSQL JDBC 42.7.14"
)
# Left out of the plugin directory: what the worker provides to every plugin (copies would only
# shadow it); Jackson, the same 2.21 as the worker's, because a second jackson-databind in the
# plugin's class loader fails on the worker's Jackson modules found by ServiceLoader
# ("BlackbirdModule not a subtype"); and the other databases' JDBC drivers.
_LEFT_OUT = (
    "kafka-clients,connect-api,slf4j-api,lz4-java,snappy-java,zstd-jni,"
    "jackson-annotations,jackson-core,jackson-databind,"
    "mariadb-java-client,mssql-jdbc,mysql-connector-j,ojdbc11"
)


def _mvn(root: Path, cache: Path, pom: str, out: Path, exclude: str = "") -> None:
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        "mvn", "-q", "-B", "-s", str(root / "bench/connect/settings.xml"),
        f"-Dmaven.repo.local={cache / 'm2'}", "-f", str(root / pom),
        "dependency:copy-dependencies", "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    if exclude:
        command.append(f"-DexcludeArtifactIds={exclude}")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        errors = [line for line in result.stdout.splitlines() if "ERROR" in line]
        raise RuntimeError(f"mvn could not fetch {pom}: {(errors or ['?'])[0][:300]}")
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(out)


def fetch(root: Path, cache: Path) -> tuple[Path, Path]:
    """(worker jar directory, plugin.path), fetched once into ``cache``/bench-connect."""
    base = cache / "bench-connect"
    worker, plugins = base / "worker", base / "plugins"
    marker = base / ".complete"
    if not marker.is_file():
        print("fetching Kafka Connect and Debezium's JDBC sink with Maven ...", flush=True)
        _mvn(root, cache, "bench/connect/worker/pom.xml", worker)
        _mvn(root, cache, "bench/connect/plugin/pom.xml", plugins / "debezium-jdbc", _LEFT_OUT)
        marker.write_text(VERSIONS + "\n")
    return worker, plugins


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def properties(values: Mapping[str, object]) -> str:
    return "".join(f"{k}={v}\n" for k, v in values.items())


def worker_config(stack: Stack, plugins: Path, offsets: Path, port: int) -> dict[str, object]:
    return {
        "bootstrap.servers": stack.bootstrap,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        # Headers as the publisher wrote them: text, not guessed into numbers.
        "header.converter": "org.apache.kafka.connect.storage.StringConverter",
        "offset.storage.file.filename": offsets,
        "plugin.path": plugins,
        # Plugins found through their ServiceLoader manifests: scanning every class of the
        # plugin's jars by reflection takes over a minute here.
        "plugin.discovery": "service_load",
        "listeners": f"http://127.0.0.1:{port}",
    }


def connector_config(
    stack: Stack, *, name: str, topic: str, schema: str, tasks: int, bare: bool
) -> dict[str, object]:
    table = BARE_TABLE if bare else "records"
    config: dict[str, object] = {
        "name": name,
        "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
        "tasks.max": tasks,
        "topics": topic,
        "connection.url": f"jdbc:postgresql://{stack.pg_host}:{stack.pg_port}/{stack.dbname}"
        f"?stringtype=unspecified&currentSchema={schema}",
        "connection.username": stack.user,
        "connection.password": stack.password,
        "insert.mode": "upsert",
        # The Kafka coordinates as primary key, in streamsuite's column names (primary.key.mode
        # kafka would insist on __connect_topic/__connect_partition/__connect_offset).
        "primary.key.mode": "record_value",
        "primary.key.fields": "kafka_topic,kafka_partition,kafka_offset",
        "schema.evolution": "none",
        "collection.name.format": f"{schema}.{table}",
        "transforms": "hoist,coordinates" if bare else "hoist,coordinates,headers",
        "transforms.hoist.type": "org.apache.kafka.connect.transforms.HoistField$Value",
        "transforms.hoist.field": "payload",
        "transforms.coordinates.type": "org.apache.kafka.connect.transforms.InsertField$Value",
        "transforms.coordinates.topic.field": "kafka_topic",
        "transforms.coordinates.partition.field": "kafka_partition",
        "transforms.coordinates.offset.field": "kafka_offset",
    }
    if not bare:
        config.update(
            {
                "transforms.coordinates.static.field": "kind",
                "transforms.coordinates.static.value": "unstructured",
                "transforms.headers.type": "io.debezium.transforms.HeaderToValue",
                "transforms.headers.headers": "source,sha256,doc-index,produced-at",
                "transforms.headers.fields": "source,sha256,doc_index,produced_at",
                "transforms.headers.operation": "copy",
            }
        )
    return config


class _Health:
    """Asks the worker's REST API now and then whether a task failed, so a broken connector
    ends the run with its trace instead of a timeout."""

    def __init__(self, group: Group, port: int, name: str):
        self.group, self.url, self.calls = (
            group,
            f"http://127.0.0.1:{port}/connectors/{name}/status",
            0,
        )

    def __call__(self) -> bool:
        self.calls += 1
        if not self.group.alive():
            return False
        if self.calls % 10:
            return True
        try:
            with urllib.request.urlopen(self.url, timeout=2) as answer:  # noqa: S310 - our worker
                status = json.load(answer)
        except OSError:
            return True  # not listening yet
        failed = [t for t in status.get("tasks", []) if t.get("state") == "FAILED"]
        if failed:
            raise RuntimeError(f"Connect task failed: {failed[0].get('trace', '')[:1500]}")
        return True


def run(
    stack: Stack, env: Mapping[str, str], *, key: str, topic: str, schema: str, tasks: int,
    bare: bool, n: int, timeout_s: float, root: Path, cache: Path,
) -> Sample:  # fmt: skip
    worker, plugins = fetch(root, cache)
    home = stack.var / "bench" / key
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    port = _free_port()
    name = f"bench-{schema}-{key}"
    (home / "worker.properties").write_text(
        properties(worker_config(stack, plugins, home / "offsets", port))
    )
    (home / "connector.properties").write_text(
        properties(
            connector_config(stack, name=name, topic=topic, schema=schema, tasks=tasks, bare=bare)
        )
    )
    command = [
        "java", "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={root / 'bench/connect/log4j2.properties'}",
        "-cp", f"{worker}/*", "org.apache.kafka.connect.cli.ConnectStandalone",
        str(home / "worker.properties"), str(home / "connector.properties"),
    ]  # fmt: skip
    watch = RowWatch(stack, schema, BARE_TABLE if bare else "records")
    procs = Group([command], [dict(env)], stack.var / "bench" / f"{key}.log")
    try:
        first, last = watch.wait(n, timeout_s, _Health(procs, port, name))
        cpu = procs.cpu()
    finally:
        procs.stop()
        watch.close()
    return Sample(key, n, last - procs.started, last - first, cpu)
