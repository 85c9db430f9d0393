"""PublisherConfig: the shared sections with the publisher's defaults, plus PUBLISHER."""

from __future__ import annotations

import pytest

from streamsuite_common.config import ConfigError, load_config
from streamsuite_publisher import config

KAFKA = {"KAFKA": {"BOOTSTRAP_SERVERS": "kafka:9092"}}


def _load(tree: dict | None = None, env: dict | None = None) -> config.PublisherConfig:
    return load_config(
        config.PublisherConfig, {**KAFKA, **(tree or {})}, env or {}, defaults=config.DEFAULTS
    )


def _publisher(values: dict) -> config.PublisherSettings:
    return _load({"PUBLISHER": values}).publisher


def test_http_port_defaults_to_9101():
    assert _load().http.port == 9101 == config.HTTP_PORT


def test_http_port_can_still_be_set():
    assert _load({"HTTP": {"PORT": 9999}}).http.port == 9999
    assert _load(env={"STREAMSUITE_HTTP__PORT": "9000"}).http.port == 9000


def test_publisher_defaults():
    settings = _load().publisher
    assert settings.inbox == ""
    assert settings.stable_s == 0.5
    assert settings.rescan_s == 5.0
    assert settings.batch_files == 100
    assert settings.max_file_bytes == 64 * 1024 * 1024
    assert settings.max_document_bytes == 1_000_000
    assert settings.max_depth == 64
    assert settings.max_yaml_nodes == 1_000_000
    assert settings.delete_published is False
    assert settings.claim_timeout_s == 60.0
    assert settings.transactional_id == ""
    assert settings.transaction_timeout_s == 30.0


def test_shared_sections_are_loaded_too():
    loaded = _load()
    assert loaded.kafka.bootstrap_servers == ("kafka:9092",)
    assert loaded.kafka.topic == "records"
    assert loaded.kafka.dlq_topic == "records.dlq"
    assert loaded.log.level == "info"


def test_publisher_keys_parse_from_yaml():
    settings = _publisher(
        {
            "INBOX": "/data/inbox",
            "STABLE_S": 2,
            "BATCH_FILES": 10,
            "DELETE_PUBLISHED": True,
            "CLAIM_TIMEOUT_S": "30",
        }
    )
    assert settings.inbox == "/data/inbox"
    assert settings.stable_s == 2.0
    assert isinstance(settings.stable_s, float)
    assert settings.batch_files == 10
    assert settings.delete_published is True
    assert settings.claim_timeout_s == 30.0


def test_publisher_keys_parse_from_the_environment_and_win_over_yaml():
    env = {
        "STREAMSUITE_PUBLISHER__STABLE_S": "1.5",
        "STREAMSUITE_PUBLISHER__BATCH_FILES": "7",
        "STREAMSUITE_PUBLISHER__DELETE_PUBLISHED": "yes",
    }
    settings = _load({"PUBLISHER": {"STABLE_S": 9, "BATCH_FILES": 99}}, env).publisher
    assert (settings.stable_s, settings.batch_files, settings.delete_published) == (1.5, 7, True)


@pytest.mark.parametrize(
    ("text", "expected"), [("true", True), ("on", True), ("0", False), ("No", False)]
)
def test_delete_published_accepts_boolean_words(text, expected):
    assert _publisher({"DELETE_PUBLISHED": text}).delete_published is expected


def test_stable_s_may_be_zero():
    assert _publisher({"STABLE_S": 0}).stable_s == 0.0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("STABLE_S", "soon"),
        ("STABLE_S", -1),
        ("STABLE_S", 3601),
        ("RESCAN_S", 0),
        ("BATCH_FILES", 0),
        ("BATCH_FILES", "ten"),
        ("BATCH_FILES", 2.5),
        ("BATCH_FILES", 10_001),
        ("BATCH_FILES", True),
        ("DELETE_PUBLISHED", "maybe"),
        ("MAX_FILE_BYTES", 0),
        ("MAX_DEPTH", 0),
        ("CLAIM_TIMEOUT_S", 1),
        ("TRANSACTION_TIMEOUT_S", 0),
        ("TRANSACTION_TIMEOUT_S", 901),
        ("TRANSACTIONAL_ID", ["a", "b"]),
    ],
)
def test_bad_publisher_value_raises_config_error_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=rf"^PUBLISHER\.{key}: "):
        _publisher({key: value})


def test_bad_publisher_env_value_names_the_key():
    with pytest.raises(ConfigError, match=r"^PUBLISHER\.BATCH_FILES: "):
        _load(env={"STREAMSUITE_PUBLISHER__BATCH_FILES": "many"})


def test_unknown_publisher_key_is_an_error_with_a_hint():
    with pytest.raises(ConfigError, match=r"PUBLISHER\.STABLE_SECONDS: unknown key.*STABLE_S"):
        _publisher({"STABLE_SECONDS": 1})


def test_transactional_id_is_empty_by_default_and_the_spool_derives_one():
    # The default depends on the inbox (its spool id and a replica slot): see test_spool.py.
    assert _load().publisher.transactional_id == ""


def test_transactional_id_is_the_configured_one_when_set():
    settings = _publisher({"TRANSACTIONAL_ID": "pub-7"})
    assert settings.transactional_id == "pub-7"


def test_batch_caps_default_to_bounds_a_512_mib_pod_takes():
    settings = _load().publisher
    assert settings.batch_bytes == 64 * 1024 * 1024
    assert settings.batch_documents == 50_000
    assert _publisher({"BATCH_BYTES": "1048576", "BATCH_DOCUMENTS": "10"}).batch_documents == 10
