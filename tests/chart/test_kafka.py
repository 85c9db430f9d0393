"""Kafka through Strimzi: KRaft node pool, topics, and per-service users with least privilege."""

from __future__ import annotations

from .conftest import objects, one, render


def acls(manifests, user):
    rules = one(manifests, "KafkaUser", user)["spec"]["authorization"]["acls"]
    return {
        (r["resource"]["type"], r["resource"]["name"], r["resource"]["patternType"]): set(
            r["operations"]
        )
        for r in rules
    }


def test_single_dual_role_kraft_node_with_replication_of_one_by_default():
    manifests = render()
    (pool,) = objects(manifests, "KafkaNodePool")
    assert pool["spec"]["roles"] == ["controller", "broker"]
    assert pool["spec"]["replicas"] == 1
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "streamsuite"
    kafka = one(manifests, "Kafka", "streamsuite")
    assert kafka["spec"]["kafka"]["version"] == "4.3.1"
    config = kafka["spec"]["kafka"]["config"]
    assert config["offsets.topic.replication.factor"] == 1
    assert config["auto.create.topics.enable"] is False


def test_three_nodes_replicate_three_times_and_tolerate_one_down():
    config = one(render("ci/production-values.yaml"), "Kafka", "streamsuite")["spec"]["kafka"]
    assert config["config"]["default.replication.factor"] == 3
    assert config["config"]["min.insync.replicas"] == 2
    topics = {
        t["spec"]["topicName"]: t["spec"]
        for t in objects(render("ci/production-values.yaml"), "KafkaTopic")
    }
    assert topics["records"]["partitions"] == 12
    assert topics["records"]["replicas"] == 3


def test_topics_from_values():
    topics = {t["spec"]["topicName"]: t["spec"] for t in objects(render(), "KafkaTopic")}
    assert set(topics) == {"records", "records.dlq", "records.status"}
    assert topics["records"]["config"]["retention.ms"] == 604800000
    # the publishers' status reports: the newest per publisher is kept, the rest compacted away
    status = topics["records.status"]
    assert status["partitions"] == 1
    assert status["config"]["cleanup.policy"] == "compact,delete"
    assert status["config"]["segment.ms"] == 3600000
    assert status["config"]["retention.ms"] == 86400000


def test_services_are_told_the_status_topic():
    manifests = render(set_values={"kafka.topics.status.name": "inbox.status"})
    for service in ("publisher", "web"):
        config = one(manifests, "ConfigMap", f"streamsuite-{service}")["data"]["config.yaml"]
        assert "STATUS_TOPIC: inbox.status" in config
    topics = {t["spec"]["topicName"] for t in objects(manifests, "KafkaTopic")}
    assert "inbox.status" in topics


def test_auth_on_means_scram_over_tls_and_simple_authorization():
    kafka = one(render(), "Kafka", "streamsuite")["spec"]["kafka"]
    (listener,) = kafka["listeners"]
    assert (listener["port"], listener["tls"], listener["authentication"]["type"]) == (
        9093,
        True,
        "scram-sha-512",
    )
    assert kafka["authorization"] == {"type": "simple"}


def test_each_kafka_client_gets_only_what_it_does():
    manifests = render()
    users = {u["metadata"]["name"] for u in objects(manifests, "KafkaUser")}
    assert users == {"streamsuite-publisher", "streamsuite-ingestor", "streamsuite-web"}
    publisher = acls(manifests, "streamsuite-publisher")
    assert publisher[("topic", "records", "literal")] == {"Write", "Describe"}
    assert publisher[("transactionalId", "streamsuite-publisher-", "prefix")] == {
        "Write",
        "Describe",
    }
    assert publisher[("topic", "records.status", "literal")] == {"Write", "Describe"}
    assert not any(r[0] == "group" for r in publisher)
    ingestor = acls(manifests, "streamsuite-ingestor")
    assert ingestor[("topic", "records", "literal")] == {"Read", "Describe"}
    assert ingestor[("topic", "records.dlq", "literal")] == {"Read", "Write", "Describe"}
    assert ingestor[("group", "streamsuite-ingestor", "literal")] == {"Read", "Describe"}
    assert not any(r[0] == "transactionalId" for r in ingestor)
    web = acls(manifests, "streamsuite-web")
    # Submit writes documents and dead letters; Status reads the publishers' reports and
    # counts the ingestor group's lag (its committed offsets, the records up to the end),
    # without a group of its own
    assert web[("topic", "records", "literal")] == {"Write", "Read", "Describe"}
    assert web[("topic", "records.dlq", "literal")] == {"Write", "Describe"}
    assert web[("topic", "records.status", "literal")] == {"Read", "Describe"}
    assert [(r, ops) for r, ops in web.items() if r[0] == "group"] == [
        (("group", "streamsuite-ingestor", "literal"), {"Describe"})
    ]


def test_web_without_submit_has_no_kafka_user_or_kafka_config():
    manifests = render(set_values={"web.submitEnabled": "false"})
    users = {u["metadata"]["name"] for u in objects(manifests, "KafkaUser")}
    assert "streamsuite-web" not in users
    config = one(manifests, "ConfigMap", "streamsuite-web")["data"]["config.yaml"]
    assert "KAFKA" not in config
    assert "SUBMIT_ENABLED: false" in config


def test_services_read_their_kafka_password_and_the_cluster_ca_from_strimzi_secrets():
    manifests = render()
    volumes = one(manifests, "Deployment", "streamsuite-ingestor")["spec"]["template"]["spec"][
        "volumes"
    ]
    (secrets,) = [v for v in volumes if v["name"] == "secrets"]
    sources = {
        s["secret"]["items"][0]["path"]: s["secret"] for s in secrets["projected"]["sources"]
    }
    assert sources["kafka-password"]["name"] == "streamsuite-ingestor"  # the KafkaUser's Secret
    assert sources["kafka-ca.crt"] == {
        "name": "streamsuite-cluster-ca-cert",
        "items": [{"key": "ca.crt", "path": "kafka-ca.crt"}],
    }


def test_auth_off_is_one_plaintext_listener_without_users():
    manifests = render("ci/auth-off-values.yaml")
    (listener,) = one(manifests, "Kafka", "streamsuite")["spec"]["kafka"]["listeners"]
    assert (listener["port"], listener["tls"]) == (9092, False)
    assert "authentication" not in listener
    assert objects(manifests, "KafkaUser") == []
    config = one(manifests, "ConfigMap", "streamsuite-publisher")["data"]["config.yaml"]
    assert "SECURITY_PROTOCOL: PLAINTEXT" in config
    assert "streamsuite-kafka-bootstrap:9092" in config


def test_external_kafka_creates_no_strimzi_resources_and_uses_the_given_secrets():
    manifests = render("ci/external-kafka-values.yaml")
    assert not [m for m in manifests if m.obj["apiVersion"].startswith("kafka.strimzi.io/")]
    config = one(manifests, "ConfigMap", "streamsuite-web")["data"]["config.yaml"]
    assert (
        "BOOTSTRAP_SERVERS: kafka-0.kafka.example.svc:9093,kafka-1.kafka.example.svc:9093" in config
    )
    assert "SASL_USERNAME: streamsuite-web" in config
    volumes = one(manifests, "Deployment", "streamsuite-web")["spec"]["template"]["spec"]["volumes"]
    (secrets,) = [v for v in volumes if v["name"] == "secrets"]
    names = {s["secret"]["name"] for s in secrets["projected"]["sources"]}
    assert {"kafka-web", "kafka-ca"} <= names
