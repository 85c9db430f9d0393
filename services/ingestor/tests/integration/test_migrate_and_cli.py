"""Migrations on the real database, extra routes with tables of their own, and the command
line as operators run it."""

from __future__ import annotations

import subprocess
import sys
import threading

import yaml

from devstack.testing import wait_for
from streamsuite_common.db import connect
from streamsuite_ingestor.migrate import bundled_migrations, migrate
from streamsuite_ingestor.routes import all_routes, load_routes_file

from .conftest import config_file, produce, raw_doc, running, sample_docs


def test_replicas_migrating_together_apply_each_migration_once(writer_settings, schema, db):
    import dataclasses

    settings = dataclasses.replace(writer_settings, schema=schema)
    applied: list[list[str]] = []
    barrier = threading.Barrier(3)

    def replica() -> None:
        conn = connect(settings, application_name="test-migrate")
        barrier.wait()
        try:
            applied.append(migrate(conn, schema))
        finally:
            conn.close()

    threads = [threading.Thread(target=replica) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    names = [m.name for m in bundled_migrations()]
    assert sorted(applied, key=len) == [[], [], names]
    assert db.query("SELECT name FROM schema_migrations ORDER BY version") == [(n,) for n in names]


def test_extra_route_from_a_routes_file_fills_its_own_table(
    kafka_settings, topics, make_config, db, tmp_path
):
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(
        yaml.safe_dump(
            {
                "routes": [
                    {
                        "name": "reading",
                        "table": "sensor_readings",
                        "fields": [
                            {"name": "sensor", "type": "string", "nonempty": True},
                            {"name": "celsius", "type": "number", "min": -90, "max": 60},
                        ],
                    }
                ]
            }
        )
    )
    hot = raw_doc("hot.json", b'{"sensor": "t-9", "celsius": 99}')
    docs = [*sample_docs("sensors.jsonl"), hot]
    produce(kafka_settings, topics[0], docs)
    routes = all_routes(load_routes_file(routes_file))
    with running(make_config(routes_file=str(routes_file)), routes=routes):
        wait_for(
            lambda: db.count() == 3 and db.count("dead_letters") == 1,
            what="readings and one refusal",
        )
    assert db.query(
        "SELECT r.source, r.doc_index, r.kind, r.route, s.sensor, s.celsius FROM records r "
        "JOIN sensor_readings s ON s.record_id = r.id ORDER BY r.doc_index"
    ) == [
        ("sensors.jsonl", 0, "relational", "reading", "t-1", 21.4),
        ("sensors.jsonl", 1, "relational", "reading", "t-2", 19.8),
        ("sensors.jsonl", 2, "relational", "reading", "t-1", 21.6),
    ]
    assert db.query("SELECT reason, detail FROM dead_letters") == [
        ("route-violation", "route 'reading': field 'celsius' must be between -90 and 60, "
         "got integer 99"),
    ]  # fmt: skip


def _run(args: list[str], password_file, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "STREAMSUITE_DATABASE__USER_PWD_FILE": str(password_file)}
    return subprocess.run(
        [sys.executable, "-m", "streamsuite_ingestor", *args],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )  # fmt: skip


def test_migrate_command_creates_the_schema_and_exits_0(make_config, db, tmp_path):
    cfg = make_config()
    path = config_file(cfg, tmp_path / "ingestor.yaml")
    password = tmp_path / "pw"
    password.write_text(cfg.database.user_pwd)
    result = _run(["migrate", "--cfg", str(path)], password)
    assert result.returncode == 0, result.stderr + result.stdout
    assert db.query("SELECT count(*) FROM schema_migrations") == [(len(bundled_migrations()),)]
    again = _run(["migrate", "--cfg", str(path)], password)
    assert again.returncode == 0
    assert '"applied": []' in again.stdout


def test_config_error_exits_2_with_one_line_naming_the_key(make_config, tmp_path):
    path = config_file(make_config(), tmp_path / "ingestor.yaml")
    tree = yaml.safe_load(path.read_text())
    tree["INGESTOR"]["BATCH_SIZE"] = "many"
    path.write_text(yaml.safe_dump(tree))
    password = tmp_path / "pw"
    password.write_text("secret")
    result = _run(["--cfg", str(path)], password)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "streamsuite-ingestor: config error: INGESTOR.BATCH_SIZE: expected a whole number, "
        "got 'many'"
    ]


def test_sigterm_finishes_the_batch_and_exits_0(kafka_settings, topics, make_config, db, processes):
    process = processes(make_config())
    produce(kafka_settings, topics[0], sample_docs("team.yaml"))
    wait_for(lambda: db.count() == 3, what=f"three records: {process.tail()}")
    assert process.terminate() == 0
    assert '"event": "stopped"' in process.log_path.read_text()


def _routes_file(path, *fields: dict) -> str:
    route = {"name": "reading", "table": "sensor_readings", "fields": list(fields)}
    path.write_text(yaml.safe_dump({"routes": [route]}))
    return str(path)


SENSOR = {"name": "sensor", "type": "string"}
CELSIUS = {"name": "celsius", "type": "number"}


def test_a_field_added_to_a_route_adds_a_nullable_column_at_start_up(
    kafka_settings, topics, make_config, db, tmp_path
):
    first = _routes_file(tmp_path / "v1.yaml", SENSOR, CELSIUS)
    produce(kafka_settings, topics[0], [raw_doc("a.json", b'{"sensor": "a", "celsius": 1}')])
    with running(make_config(routes_file=first), routes=all_routes(load_routes_file(first))):
        wait_for(lambda: db.count("sensor_readings") == 1, what="a v1 reading")

    second = _routes_file(tmp_path / "v2.yaml", SENSOR, CELSIUS, {"name": "hum", "type": "integer"})
    produce(
        kafka_settings, topics[0], [raw_doc("b.json", b'{"sensor": "b", "celsius": 2, "hum": 40}')]
    )
    with running(make_config(routes_file=second), routes=all_routes(load_routes_file(second))):
        wait_for(lambda: db.count("sensor_readings") == 2, what="a v2 reading in the new column")
    assert db.query("SELECT sensor, celsius, hum FROM sensor_readings ORDER BY sensor") == [
        ("a", 1.0, None),
        ("b", 2.0, 40),
    ]

    # The field leaves the route again: its column takes NULL from now on.
    produce(kafka_settings, topics[0], [raw_doc("c.json", b'{"sensor": "c", "celsius": 3}')])
    with running(make_config(routes_file=first), routes=all_routes(load_routes_file(first))):
        wait_for(lambda: db.count("sensor_readings") == 3, what="a v1 reading again")
    assert db.count("dead_letters") == 0


def test_a_changed_field_type_stops_the_start_with_exit_2_naming_table_and_column(
    make_config, db, tmp_path
):
    first = _routes_file(tmp_path / "v1.yaml", SENSOR, CELSIUS)
    password = tmp_path / "pw"
    cfg = make_config(routes_file=first)
    password.write_text(cfg.database.user_pwd)
    migrated = _run(["migrate", "--cfg", str(config_file(cfg, tmp_path / "v1-cfg.yaml"))], password)
    assert migrated.returncode == 0, migrated.stderr + migrated.stdout

    changed = _routes_file(tmp_path / "v2.yaml", SENSOR, {"name": "celsius", "type": "string"})
    path = config_file(make_config(routes_file=changed), tmp_path / "v2-cfg.yaml")
    result = _run(["--cfg", str(path)], password)
    assert result.returncode == 2, result.stderr + result.stdout
    assert result.stderr.strip().splitlines() == [
        "streamsuite-ingestor: config error: route 'reading': table 'sensor_readings' column "
        "'celsius' is double precision, the route needs text; migrate the table or use another "
        "column name"
    ]
