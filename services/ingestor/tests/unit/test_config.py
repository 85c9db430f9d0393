"""The ingestor's settings: defaults, overrides and one-line errors."""

from __future__ import annotations

import pytest

from streamsuite_common.config import ConfigError, reference_rows
from streamsuite_ingestor.config import SECTIONS, load_tree

MINIMAL = {
    "KAFKA": {"BOOTSTRAP_SERVERS": "127.0.0.1:9092"},
    "DATABASE": {"HOST": "db", "DBNAME": "streamsuite", "DBUSER": "writer"},
}


def test_defaults_serve_metrics_on_9102_in_the_ingestor_group():
    cfg = load_tree(MINIMAL, {})
    assert cfg.http.port == 9102
    assert cfg.ingestor.group_id == "streamsuite-ingestor"
    assert cfg.ingestor.reader_role == "streamsuite_reader"
    assert cfg.ingestor.migrate_on_start is True
    assert (cfg.kafka.topic, cfg.kafka.dlq_topic) == ("records", "records.dlq")


def test_environment_overrides_the_file():
    env = {"STREAMSUITE_INGESTOR__BATCH_SIZE": "50", "STREAMSUITE_INGESTOR__READER_ROLE": ""}
    cfg = load_tree({**MINIMAL, "INGESTOR": {"BATCH_SIZE": 7}}, env)
    assert (cfg.ingestor.batch_size, cfg.ingestor.reader_role) == (50, "")


@pytest.mark.parametrize(
    ("ingestor", "message"),
    [
        ({"BATCH_SIZE": 0}, "INGESTOR.BATCH_SIZE: must be between 1 and 50000"),
        ({"BATCH_SIZ": 5}, "INGESTOR.BATCH_SIZ: unknown key (did you mean BATCH_SIZE?)"),
        ({"READER_ROLE": "Robert'); DROP"}, "INGESTOR.READER_ROLE: "),
        ({"SESSION_TIMEOUT_S": 1}, "INGESTOR.SESSION_TIMEOUT_S: must be between 6 and 1800"),
        ({"ROUTES_FILE": "/nonexistent/routes.yaml"}, "INGESTOR.ROUTES_FILE: no such file"),
    ],
)
def test_wrong_setting_is_one_line_naming_the_key(ingestor, message):
    with pytest.raises(ConfigError) as caught:
        load_tree({**MINIMAL, "INGESTOR": ingestor}, {})
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_routes_file_is_checked_at_start_up(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text("routes:\n  - {name: r, table: t, fields: [{name: a, type: date}]}\n")
    with pytest.raises(ConfigError, match=r"INGESTOR.ROUTES_FILE: route 'r': field #1 \(a\)"):
        load_tree({**MINIMAL, "INGESTOR": {"ROUTES_FILE": str(path)}}, {})


def test_dlq_topic_must_differ_from_the_records_topic():
    tree = {**MINIMAL, "KAFKA": {**MINIMAL["KAFKA"], "DLQ_TOPIC": "records"}}
    with pytest.raises(ConfigError, match=r"KAFKA\.DLQ_TOPIC: must differ"):
        load_tree(tree, {})


def test_own_section_is_listed_for_the_reference():
    keys = [row[0] for row in reference_rows(SECTIONS)]
    assert "`INGESTOR.GROUP_ID`" in keys
    assert "`INGESTOR.ROUTES_FILE`" in keys


def test_group_instance_id_is_the_pod_name_on_kubernetes_else_host_and_replica_index():
    import socket

    cfg = load_tree(MINIMAL, {}).ingestor
    k8s = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": "streamsuite-ingestor-7d9-x2"}
    assert cfg.instance_id(k8s) == "streamsuite-ingestor-7d9-x2"
    assert cfg.instance_id({"HOSTNAME": "box"}) == f"{socket.gethostname()}-0"
    second = load_tree(MINIMAL, {"STREAMSUITE_INGESTOR__REPLICA_INDEX": "1"}).ingestor
    assert second.instance_id({}) == f"{socket.gethostname()}-1"
    named = load_tree(MINIMAL, {"STREAMSUITE_INGESTOR__GROUP_INSTANCE_ID": "ingestor-a"}).ingestor
    assert named.instance_id(k8s) == "ingestor-a"


def test_session_bounds_and_batch_bytes_have_sane_defaults():
    cfg = load_tree(MINIMAL, {}).ingestor
    assert (cfg.statement_timeout_s, cfg.lock_timeout_s, cfg.tcp_user_timeout_s) == (60, 10, 30)
    assert cfg.max_batch_bytes == 16 * 1024 * 1024
    assert cfg.fetch_stall_s == 120
