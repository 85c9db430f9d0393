"""DEVSTACK_INGESTOR_REPLICAS: `make up` runs N ingestor processes in one consumer group."""

from pathlib import Path

import pytest

from devstack.services import config_tree, stack_services
from devstack.settings import SettingsError, StackSettings


def test_replicas_get_their_own_name_port_and_group_instance(tmp_path: Path) -> None:
    settings = StackSettings.from_env(
        {"DEVSTACK_VAR": str(tmp_path), "DEVSTACK_INGESTOR_REPLICAS": "3"}
    )
    ingestors = [s for s in stack_services(settings) if s.module == "streamsuite_ingestor"]
    assert [s.name for s in ingestors] == ["ingestor", "ingestor-1", "ingestor-2"]
    assert len({s.port for s in ingestors}) == 3
    assert [config_tree(s, settings)["INGESTOR"]["REPLICA_INDEX"] for s in ingestors] == [0, 1, 2]
    assert len({s.port for s in stack_services(settings)}) == len(stack_services(settings))


def test_one_ingestor_by_default(tmp_path: Path) -> None:
    settings = StackSettings.from_env({"DEVSTACK_VAR": str(tmp_path)})
    assert [s.name for s in stack_services(settings) if s.name.startswith("ingestor")] == [
        "ingestor"
    ]


@pytest.mark.parametrize("value", ["0", "x", "17"])
def test_a_bad_replica_count_is_named(value: str) -> None:
    with pytest.raises(SettingsError, match="DEVSTACK_INGESTOR_REPLICAS"):
        StackSettings.from_env({"DEVSTACK_INGESTOR_REPLICAS": value})
