"""Defects a platform engineer found by reading the chart (issue 12): names Strimzi derives past
63 characters, replication settings that followed kafka.replicas on upgrade, KafkaTopics stuck
on the Topic Operator's finalizer, a publisher transactional id that changed with every pod,
a Kafka PodMonitor that selected more than brokers, `global` refused by the schema."""

from __future__ import annotations

import shutil

import pytest
import yaml

from devstack.chartcheck import helm
from devstack.chartcheck.manifests import parse_manifests
from devstack.chartcheck.pods import all_pods, selector_matches
from streamsuite_common import config as common_config
from streamsuite_publisher.config import DEFAULTS as PUBLISHER_DEFAULTS
from streamsuite_publisher.config import PublisherConfig

from .conftest import CHART, MONITORING_API, one, render

README = CHART.parents[1] / "README.md"

EXTERNAL_PG = "ci/external-postgresql-values.yaml"


def _refusal(release: str = "streamsuite", values: tuple[str, ...] = (), **set_values: str) -> str:
    with pytest.raises(helm.HelmError) as refused:
        helm.template(CHART, release=release, values_files=values, set_values=set_values)
    return refused.value.message


def _render(release: str, values: tuple[str, ...] = (), **set_values: str):
    text = helm.template(CHART, release=release, values_files=values, set_values=set_values)
    return list(parse_manifests(text))


# --- names ---


def test_kafka_pods_are_named_after_a_short_node_pool():
    (pool,) = [m.obj for m in render() if m.obj["kind"] == "KafkaNodePool"]
    assert pool["metadata"]["name"] == "kafka"  # pods: streamsuite-kafka-0, ...
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "streamsuite"


def test_a_release_name_that_pushes_strimzi_names_past_63_is_refused_naming_the_limit():
    # PostgreSQL external, so Strimzi's names are the longest: <cluster>-kafka-bootstrap (and
    # <cluster>-entity-operator, as long).
    values = (str(CHART / EXTERNAL_PG),)
    fits = "streamsuite-" + "a" * 35  # 47 characters + "-kafka-bootstrap" = 63
    assert _render(fits, values)
    error = _refusal(fits + "b", values)
    assert "Strimzi's bootstrap Service" in error
    assert f'"{fits}b-kafka-bootstrap", 64 characters' in error
    assert "Kubernetes allows 63" in error
    assert "at most 47 fit" in error


def test_many_kafka_nodes_count_in_the_pod_name_limit():
    values = (str(CHART / EXTERNAL_PG),)
    release = "streamsuite-" + "a" * 35
    error = _refusal(
        release, values, **{"kafka.nodePoolName": "a-long-pool-name", "kafka.replicas": "10"}
    )
    assert f'"{release}-a-long-pool-name-9", 66 characters' in error


def test_the_bundled_postgresql_revision_label_counts_too():
    error = _refusal("streamsuite-" + "a" * 30)  # fullname 42 + "-postgresql-<10>" = 63 + 1
    assert "controller-revision-hash" in error
    assert "at most 41 fit" in error


# --- replication ---


def _kafka_config(manifests):
    return one(manifests, "Kafka", "streamsuite")["spec"]["kafka"]["config"]


def _topics(manifests):
    return {
        t.obj["spec"]["topicName"]: t.obj["spec"]
        for t in manifests
        if t.obj["kind"] == "KafkaTopic"
    }


def test_replication_settings_are_those_of_the_install_and_consistent():
    three = render(set_values={"kafka.replicas": "3"})
    config = _kafka_config(three)
    assert (config["default.replication.factor"], config["min.insync.replicas"]) == (3, 2)
    assert _topics(three)["records"]["replicas"] == 3
    assert _topics(three)["records"]["config"]["min.insync.replicas"] == 2


MIN_ISR = "kafka.config.min\\.insync\\.replicas"
TXN_MIN_ISR = "kafka.config.transaction\\.state\\.log\\.min\\.isr"
DEFAULT_RF = "kafka.config.default\\.replication\\.factor"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({MIN_ISR: "2"}, "above the 1 replicas of Kafka's __consumer_offsets"),
        ({TXN_MIN_ISR: "2"}, "__transaction_state"),
        ({"kafka.topics.records.replicas": "2"}, "kafka.replicas is 1 but the records topic's"),
        ({"kafka.replicas": "2", DEFAULT_RF: "3"}, "default.replication.factor is 3"),
    ],
)
def test_replication_settings_that_would_stop_producers_or_consumers_are_refused(setting, expected):
    assert expected in _refusal(**setting)


# --- finalizers, transactional id, monitor, schema ---


def test_the_topic_operator_puts_no_finalizer_on_topics_by_default():
    def env(manifests):
        template = one(manifests, "Kafka", "streamsuite")["spec"]["entityOperator"]
        return template.get("template", {}).get("topicOperatorContainer", {}).get("env")

    assert env(render()) == [{"name": "STRIMZI_USE_FINALIZERS", "value": "false"}]
    assert env(render(set_values={"kafka.topicFinalizers": "true"})) is None


def _publisher_id(manifests, tmp_path, fullname: str = "streamsuite") -> str:
    tree = yaml.safe_load(
        one(manifests, "ConfigMap", f"{fullname}-publisher")["data"]["config.yaml"]
    )
    password = tmp_path / "kafka-password"
    password.write_text("x\n")
    tree["KAFKA"]["SASL_PASSWORD_FILE"] = str(password)
    tree["KAFKA"]["SSL_CAFILE"] = str(password)
    cfg = common_config.load_config(PublisherConfig, tree, {}, defaults=PUBLISHER_DEFAULTS)
    return cfg.publisher.transactional_id


def test_the_publisher_has_one_transactional_id_per_release_inside_its_acl_prefix(tmp_path):
    assert _publisher_id(render(), tmp_path) == "streamsuite-publisher-streamsuite"
    other = _render("other")
    assert (
        _publisher_id(other, tmp_path, "other-streamsuite")
        == "streamsuite-publisher-other-streamsuite"
    )


def test_the_kafka_pod_monitor_selects_the_brokers_only():
    manifests = render("ci/monitoring-values.yaml", api_versions=[MONITORING_API])
    selector = one(manifests, "PodMonitor", "streamsuite-kafka")["spec"]["selector"]
    chosen = [p for p in all_pods(manifests) if selector_matches(selector, p.labels)]
    assert chosen
    assert {p.labels.get("strimzi.io/broker-role") for p in chosen} == {"true"}
    assert selector["matchLabels"]["strimzi.io/broker-role"] == "true"


def test_the_chart_works_as_a_subchart_with_global_values(tmp_path):
    # Helm hands every subchart the parent's `global` block: the strict schema must allow it.
    parent = tmp_path / "platform"
    shutil.copytree(CHART, parent / "charts" / "streamsuite")
    (parent / "Chart.yaml").write_text("apiVersion: v2\nname: platform\nversion: 1.0.0\n")
    (parent / "values.yaml").write_text("global:\n  imageRegistry: registry.example.com\n")
    manifests = list(parse_manifests(helm.template(parent, release="platform")))
    assert one(manifests, "Deployment", "platform-streamsuite-web")


def test_existing_secret_is_documented_as_required_for_helm_template_renderers():
    values = (CHART / "values.yaml").read_text()
    comment = values[: values.index("\nexistingSecret:")].rsplit("\n\n", 1)[1]
    assert "Required with GitOps tools that render with `helm template`" in comment
    assert "lookup" in comment
    readme = " ".join(README.read_text().split())
    assert "**required with GitOps tools that render with `helm template`**" in readme
