"""server.properties of the local single-node KRaft broker."""

from pathlib import Path

import pytest

from devstack.kafka import _cluster_id, server_properties
from devstack.settings import StackSettings


@pytest.fixture
def settings(tmp_path: Path) -> StackSettings:
    return StackSettings(
        root=tmp_path,
        var=tmp_path / "var",
        cache=tmp_path / "cache",
        kafka_port=19092,
        kafka_controller_port=19093,
        partitions=5,
    )


def parse(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")]
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), "a key is set twice"
    return dict(pairs)


def test_listeners_use_the_configured_ports_on_loopback(
    settings: StackSettings, tmp_path: Path
) -> None:
    props = parse(server_properties(settings, tmp_path / "data"))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"


def test_advertised_listener_is_the_stack_bootstrap(
    settings: StackSettings, tmp_path: Path
) -> None:
    props = parse(server_properties(settings, tmp_path / "data"))
    assert props["advertised.listeners"] == f"PLAINTEXT://{settings.bootstrap}"


def test_single_node_kraft_roles_and_listener_names(
    settings: StackSettings, tmp_path: Path
) -> None:
    props = parse(server_properties(settings, tmp_path / "data"))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    protocol_map = dict(
        pair.split(":") for pair in props["listener.security.protocol.map"].split(",")
    )
    assert protocol_map == {"CONTROLLER": "PLAINTEXT", "PLAINTEXT": "PLAINTEXT"}


def test_data_dir_and_partitions_come_from_the_arguments(
    settings: StackSettings, tmp_path: Path
) -> None:
    props = parse(server_properties(settings, tmp_path / "data"))
    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["num.partitions"] == "5"


def test_internal_topics_fit_one_broker(settings: StackSettings, tmp_path: Path) -> None:
    props = parse(server_properties(settings, tmp_path / "data"))
    for key, value in props.items():
        if key.endswith(("replication.factor", "min.isr")):
            assert value == "1", key
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"


def test_topics_are_never_created_by_accident(settings: StackSettings, tmp_path: Path) -> None:
    props = parse(server_properties(settings, tmp_path / "data"))
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_file_starts_with_a_comment_and_ends_with_a_newline(
    settings: StackSettings, tmp_path: Path
) -> None:
    text = server_properties(settings, tmp_path / "data")
    assert text.startswith("# ")
    assert text.endswith("\n")
    assert all("=" in line for line in text.splitlines() if line and not line.startswith("#"))


def test_cluster_id_is_22_url_safe_base64_characters() -> None:
    first, second = _cluster_id(), _cluster_id()
    assert len(first) == 22
    assert set(first) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert first != second
