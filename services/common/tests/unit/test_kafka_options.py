"""kafka-python options built from KafkaSettings: pure dictionaries, no broker."""

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from streamsuite_common.config import KafkaSettings
from streamsuite_common.kafka import client_options, consumer_options, producer_options


def settings(**overrides: object) -> KafkaSettings:
    values: dict[str, object] = {"bootstrap_servers": ("k1:9092", "k2:9093")}
    values.update(overrides)
    return KafkaSettings(**values)  # type: ignore[arg-type]


SASL_SSL = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username": "publisher",
    "sasl_password": "pw",
    "ssl_cafile": "/etc/kafka/ca.pem",
}


def test_client_options_carry_brokers_client_id_and_timeout() -> None:
    options = client_options(settings(request_timeout_s=12.5), client_id="me")
    assert options["bootstrap_servers"] == ["k1:9092", "k2:9093"]
    assert isinstance(options["bootstrap_servers"], list)
    assert options["client_id"] == "me"
    assert options["request_timeout_ms"] == 12_500
    assert options["security_protocol"] == "PLAINTEXT"
    assert options["reconnect_backoff_ms"] < options["reconnect_backoff_max_ms"]


def test_a_broker_back_after_an_outage_is_tried_again_within_a_second() -> None:
    # kafka-python doubles its reconnect wait up to this cap: at 10 s, a broker restarted
    # after a long outage was found up to 10 s late by every client (chaos, issue 14).
    assert client_options(settings(), client_id="me")["reconnect_backoff_max_ms"] <= 1_000


def test_plaintext_client_options_have_no_sasl_or_ssl() -> None:
    options = client_options(settings(), client_id="me")
    assert not [key for key in options if key.startswith(("sasl_", "ssl_"))]


def test_sasl_ssl_client_options_carry_credentials_and_ca() -> None:
    options = client_options(settings(**SASL_SSL), client_id="me")
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "publisher"
    assert options["sasl_plain_password"] == "pw"
    assert options["ssl_check_hostname"] is True
    assert options["ssl_cafile"] == "/etc/kafka/ca.pem"


def test_sasl_plaintext_client_options_have_credentials_but_no_ssl() -> None:
    options = client_options(
        settings(security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password="p"),
        client_id="me",
    )
    assert options["sasl_plain_username"] == "u"
    assert not [key for key in options if key.startswith("ssl_")]


def test_ssl_client_options_check_hostname_and_omit_an_unset_ca() -> None:
    options = client_options(settings(security_protocol="SSL"), client_id="me")
    assert options["ssl_check_hostname"] is True
    assert "ssl_cafile" not in options
    assert not [key for key in options if key.startswith("sasl_")]


def test_producer_options_are_durable_and_use_the_producer_client_id() -> None:
    options = producer_options(settings(producer_client_id="pub-1"))
    assert options["client_id"] == "pub-1"
    assert options["acks"] == "all"
    assert options["enable_idempotence"] is True
    assert options["compression_type"] == "gzip"
    assert options["max_in_flight_requests_per_connection"] <= 5


@pytest.mark.parametrize(
    ("compression", "expected"), [("none", None), ("lz4", "lz4"), ("zstd", "zstd")]
)
def test_producer_compression_none_means_no_compression_type(
    compression: str, expected: str | None
) -> None:
    assert producer_options(settings(compression=compression))["compression_type"] == expected


def test_producer_overrides_win() -> None:
    options = producer_options(settings(), linger_ms=50, acks=1)
    assert options["linger_ms"] == 50
    assert options["acks"] == 1


def test_consumer_options_commit_manually_and_read_committed() -> None:
    options = consumer_options(settings(consumer_client_id="ing-1"), group_id="ingestor")
    assert options["client_id"] == "ing-1"
    assert options["group_id"] == "ingestor"
    assert options["isolation_level"] == "read_committed"
    assert options["enable_auto_commit"] is False
    assert options["auto_offset_reset"] == "earliest"


@pytest.mark.parametrize(
    ("request_timeout_s", "expected_ms"), [(1, 30_500), (30, 30_500), (90, 90_000)]
)
def test_consumer_request_timeout_is_never_below_30_5_s(
    request_timeout_s: float, expected_ms: int
) -> None:
    options = consumer_options(settings(request_timeout_s=request_timeout_s), group_id="g")
    assert options["request_timeout_ms"] == expected_ms


def test_consumer_overrides_win() -> None:
    options = consumer_options(settings(), group_id="g", auto_offset_reset="latest")
    assert options["auto_offset_reset"] == "latest"


def test_consumer_options_keep_the_security_options() -> None:
    options = consumer_options(settings(**SASL_SSL), group_id="g")
    assert options["sasl_plain_username"] == "publisher"
    assert options["ssl_cafile"] == "/etc/kafka/ca.pem"


def test_every_option_is_one_kafka_python_knows() -> None:
    secure = settings(**SASL_SSL)
    assert set(producer_options(secure)) <= set(KafkaProducer.DEFAULT_CONFIG)
    assert set(consumer_options(secure, group_id="g")) <= set(KafkaConsumer.DEFAULT_CONFIG)
    assert set(client_options(secure, client_id="a")) <= set(KafkaAdminClient.DEFAULT_CONFIG)
