"""The consumer group from the outside: readiness while the ingestor holds no partitions, the
assigned-partitions gauge, and static membership that hands a restarted replica its partitions
back at once instead of after the session timeout."""

from __future__ import annotations

import dataclasses
import json
import time

from devstack.testing import free_port, http_get, wait_for
from streamsuite_common.kafka import connect_consumer

from .conftest import produce, raw_doc


def _with_port(cfg):
    return dataclasses.replace(cfg, http=dataclasses.replace(cfg.http, port=free_port()))


def _metric(port: int, name: str) -> float | None:
    _, _, text = http_get(f"http://127.0.0.1:{port}/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def _readiness(port: int) -> tuple[int, dict]:
    status, _, body = http_get(f"http://127.0.0.1:{port}/readyz")
    return status, (json.loads(body) if body else {})


def test_not_ready_while_the_group_gives_it_no_partitions(
    kafka_settings, topics, make_config, processes
):
    cfg = _with_port(make_config())
    # Another member holds every partition and, never polling again, keeps the group in a
    # rebalance that cannot finish until the broker gives up on it (its max poll interval).
    blocker = connect_consumer(
        dataclasses.replace(kafka_settings),
        *topics,
        group_id=cfg.ingestor.group_id,
        max_poll_interval_ms=25_000,
        session_timeout_ms=10_000,
    )
    try:
        deadline = time.monotonic() + 60
        while not blocker.assignment() and time.monotonic() < deadline:
            blocker.poll(timeout_ms=5_000)  # long enough for the join to finish in one poll
        assert blocker.assignment(), "the other member got no partitions"
        process = processes(cfg)
        port = cfg.http.port

        def waiting_for_partitions() -> bool:
            status, body = _readiness(port)
            checks = body.get("checks", {})
            return (
                status == 503
                and checks.get("kafka") == "ok"
                and checks.get("postgres") == "ok"
                and "no partitions" in checks.get("partitions", "")
            )

        wait_for(waiting_for_partitions, timeout_s=20, what=f"503 for partitions: {process.tail()}")
        assert _metric(port, "streamsuite_ingestor_assigned_partitions") == 0
    finally:
        blocker.close()
    wait_for(lambda: _readiness(port)[0] == 200, timeout_s=60, what=f"ready: {process.tail()}")
    assert _metric(port, "streamsuite_ingestor_assigned_partitions") == 4  # 3 records + 1 DLQ
    assert process.terminate() == 0, process.tail()


def test_a_restarted_replica_resumes_before_the_session_timeout(
    kafka_settings, topics, make_config, processes, db
):
    # A dynamic member that vanishes holds its partitions until the session times out (60 s
    # here); a static member coming back under the same name takes them over at once.
    cfg = _with_port(make_config(session_timeout_s=60.0))
    first = processes(cfg, "replica")
    produce(kafka_settings, topics[0], [raw_doc("one.json", b'{"n": 1}')])
    wait_for(lambda: db.count() == 1, timeout_s=60, what=f"first record: {first.tail()}")
    first.kill()

    second = processes(cfg, "replica")  # same process name: same group instance id
    restarted = time.monotonic()
    produce(kafka_settings, topics[0], [raw_doc("two.json", b'{"n": 2}')])
    wait_for(lambda: db.count() == 2, timeout_s=30, what=f"second record: {second.tail()}")
    assert time.monotonic() - restarted < 30
    assert second.terminate() == 0, second.tail()


def test_two_replicas_with_one_group_instance_id_stop_the_older_with_exit_2(
    kafka_settings, topics, make_config, processes, db
):
    cfg = make_config(group_instance_id="twin")
    first = processes(_with_port(cfg), "first")
    wait_for(lambda: "partitions assigned" in first.log_path.read_text(), what="first assigned")
    second = processes(_with_port(cfg), "second")
    wait_for(lambda: "partitions assigned" in second.log_path.read_text(), what="second assigned")
    produce(kafka_settings, topics[0], [raw_doc(f"twin/{n}.json", b"{}") for n in range(20)])
    wait_for(lambda: db.count() == 20, what=f"every record: {second.tail()}")
    assert first.proc is not None
    first.proc.wait(timeout=60)
    assert first.proc.returncode == 2, first.tail()
    errors = [line for line in first.log_path.read_text().splitlines() if "config error" in line]
    assert errors == [
        "streamsuite-ingestor: config error: INGESTOR.GROUP_INSTANCE_ID: 'twin' is used by "
        f"another running consumer of group {cfg.ingestor.group_id!r}"
    ]
    assert second.terminate() == 0, second.tail()


def test_a_stopping_replica_hands_its_partitions_on_at_once(
    kafka_settings, topics, make_config, processes, db
):
    # Static members keep their partitions through a crash; one stopped on purpose (SIGTERM:
    # scale-down, rolling update) leaves, so the others need not wait for the session timeout.
    cfg = _with_port(make_config(session_timeout_s=60.0))
    staying = processes(cfg, "staying")
    stopping = processes(_with_port(cfg), "stopping")
    port = cfg.http.port
    wait_for(
        lambda: (
            _metric(port, "streamsuite_ingestor_assigned_partitions") not in (None, 0, 4)
            and "partitions assigned" in stopping.log_path.read_text()
        ),
        timeout_s=60,
        what="the partitions split between the two",
    )
    assert stopping.terminate() == 0, stopping.tail()
    stopped = time.monotonic()
    wait_for(
        lambda: _metric(port, "streamsuite_ingestor_assigned_partitions") == 4,
        timeout_s=30,
        what=f"every partition with the staying replica: {staying.tail()}",
    )
    assert time.monotonic() - stopped < 30
    produce(kafka_settings, topics[0], [raw_doc(f"left/{n}.json", b"{}") for n in range(12)])
    wait_for(lambda: db.count() == 12, what="every record by the staying replica")
    assert staying.terminate() == 0, staying.tail()
