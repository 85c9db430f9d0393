"""schemas.validate: Kubernetes kinds against kubernetes-validate's strict schemas per version,
custom resources against the strict CRD schemas, and every object must have a schema."""

import pytest

from devstack.chartcheck import schemas
from devstack.chartcheck.crds import CrdSchemas
from devstack.chartcheck.findings import Finding
from devstack.chartcheck.manifests import Manifest

KAFKA_REF = "Kafka/streamsuite-kafka (templates/kafka/kafka.yaml)"
WEB_REF = "Deployment/streamsuite-web (templates/web/deployment.yaml)"


def test_the_sample_render_passes_every_schema(sample, crd_schemas: CrdSchemas) -> None:
    assert schemas.validate(sample.manifests, crd_schemas=crd_schemas) == []


def test_valid_deployment_passes_both_kubernetes_versions(sample, crd_schemas) -> None:
    web = sample.get("Deployment", "streamsuite-web")
    for version in ("1.31", "1.34"):
        assert schemas.validate([web], kube_versions=(version,), crd_schemas=crd_schemas) == []


def test_unknown_field_in_kafka_cr_is_reported(sample, crd_schemas) -> None:
    sample.obj("Kafka", "streamsuite-kafka")["spec"]["kafka"]["listeners"][0]["foo"] = 1
    assert schemas.validate(sample.manifests, crd_schemas=crd_schemas) == [
        Finding(
            KAFKA_REF,
            "schema crd",
            "spec.kafka.listeners[0].foo: Additional properties are not allowed"
            " ('foo' was unexpected)",
        )
    ]


def test_v1beta2_kafka_is_reported_as_not_served(sample, crd_schemas) -> None:
    sample.obj("Kafka", "streamsuite-kafka")["apiVersion"] = "kafka.strimzi.io/v1beta2"
    [finding] = schemas.validate(sample.manifests, crd_schemas=crd_schemas)
    assert finding.ref == KAFKA_REF
    assert finding.message.startswith(
        "no schema: kafka.strimzi.io/v1beta2 Kafka is not served by the CRDs in "
    )
    assert finding.message.endswith("(served: kafka.strimzi.io/v1)")


def test_missing_required_field_in_a_custom_resource_is_reported(sample, crd_schemas) -> None:
    del sample.obj("KafkaNodePool", "dual")["spec"]["roles"]
    messages = [f.message for f in schemas.validate(sample.manifests, crd_schemas=crd_schemas)]
    assert messages == ["spec: 'roles' is a required property"]


def test_typo_in_custom_resource_metadata_labels_is_reported(sample, crd_schemas) -> None:
    topic = sample.obj("KafkaTopic", "records")
    topic["metadata"]["label"] = topic["metadata"].pop("labels")
    messages = [f.message for f in schemas.validate(sample.manifests, crd_schemas=crd_schemas)]
    assert messages == [
        "metadata.label: Additional properties are not allowed ('label' was unexpected)"
    ]


def test_every_error_of_an_object_is_reported_in_path_order(sample, crd_schemas) -> None:
    container = sample.obj("Deployment", "streamsuite-web")["spec"]["template"]["spec"][
        "containers"
    ][0]
    container["imagePullPolicy"] = 3
    container["livenessProbe"]["httpGett"] = container["livenessProbe"].pop("httpGet")
    container["ports"][0]["containerPort"] = "8080"
    findings = schemas.validate(sample.manifests, crd_schemas=crd_schemas)
    assert {f.check for f in findings} == {"schema k8s 1.31, 1.34"}
    assert [f.message for f in findings] == [
        "spec.template.spec.containers[0].imagePullPolicy: 3 is not of type 'string', 'null'",
        "spec.template.spec.containers[0].livenessProbe.httpGett: Additional properties are not"
        " allowed ('httpGett' was unexpected)",
        "spec.template.spec.containers[0].ports[0].containerPort: '8080' is not of type 'integer'",
    ]


def test_an_api_removed_in_a_later_version_is_reported_for_that_version(crd_schemas) -> None:
    # flowcontrol.apiserver.k8s.io/v1beta3 was served until Kubernetes 1.31, removed in 1.32.
    schema = {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3",
        "kind": "FlowSchema",
        "metadata": {"name": "x"},
        "spec": {"priorityLevelConfiguration": {"name": "global-default"}},
    }
    findings = schemas.validate([Manifest("s/templates/fs.yaml", schema)], crd_schemas=crd_schemas)
    assert [(f.check, f.message.split(" (")[0]) for f in findings] == [
        (
            "schema k8s 1.34",
            "no schema: flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema is not a Kubernetes kind",
        )
    ]


def test_unknown_kind_is_reported(sample, crd_schemas) -> None:
    sample.add(
        "extra.yaml",
        {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}},
    )
    [finding] = schemas.validate(sample.manifests, crd_schemas=crd_schemas)
    assert finding.ref == "Gadget/g (templates/extra.yaml)"
    assert finding.message.startswith("no schema: example.com/v1 Gadget is not a Kubernetes kind")


def test_an_object_without_kind_is_reported(sample, crd_schemas) -> None:
    del sample.obj("ConfigMap", "streamsuite-ingestor")["kind"]
    [finding] = schemas.validate(sample.manifests, crd_schemas=crd_schemas)
    assert finding.message == "apiVersion and kind must be set"


def test_a_version_without_schemas_is_refused() -> None:
    with pytest.raises(schemas.UnsupportedVersionError, match=r"no schemas for Kubernetes 1\.2$"):
        schemas.schema_dir("1.2")
    assert schemas.schema_dir("1.31") == "v1.31.0-local-strict"


def test_json_paths_read_like_the_manifest() -> None:
    assert schemas.json_path(["spec", "listeners", 0, "tls"]) == "spec.listeners[0].tls"
    assert schemas.json_path(["metadata", "labels", "app.kubernetes.io/name"]) == (
        'metadata.labels["app.kubernetes.io/name"]'
    )
    assert schemas.json_path([]) == "(root)"
