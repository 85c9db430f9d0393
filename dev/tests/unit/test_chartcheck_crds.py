"""CRD schemas made strict the way kubeconform -strict does, from the offline CRD copies."""

from typing import Any

import jsonschema

from devstack.chartcheck.crds import CrdSchemas, crd_schemas_from, strict_schema


def crd(versions: list[dict[str, Any]], group: str = "example.com") -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {"group": group, "names": {"kind": "Widget"}, "versions": versions},
    }


def version(name: str, spec_schema: dict[str, Any], served: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "served": served,
        "storage": served,
        "schema": {
            "openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"type": "object"},
                    "spec": spec_schema,
                },
            }
        },
    }


def widget(spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    meta = {"name": "w", **metadata}
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta, "spec": spec}


def errors(schema: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(obj)]


SPEC = {
    "type": "object",
    "properties": {
        "size": {"type": "integer"},
        "port": {"x-kubernetes-int-or-string": True},
        "note": {"type": "string", "nullable": True},
        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "open": {"type": "object", "properties": {"a": {}}, "additionalProperties": True},
        "items": {"type": "array", "items": {"type": "object", "properties": {"x": {}}}},
        "choice": {
            "type": "object",
            "properties": {"value": {}, "valueFrom": {}},
            "oneOf": [
                {"properties": {"value": {}}, "required": ["value"]},
                {"properties": {"valueFrom": {}}, "required": ["valueFrom"]},
            ],
        },
    },
}


def schemas() -> CrdSchemas:
    return crd_schemas_from([crd([version("v1", SPEC)])], origin="crds/")


def test_objects_with_properties_are_closed() -> None:
    schema = schemas().schema_for("example.com/v1", "Widget")
    assert schema is not None
    assert errors(schema, widget({"size": 1})) == []
    assert errors(schema, widget({"sise": 1})) == [
        "Additional properties are not allowed ('sise' was unexpected)"
    ]
    assert errors(schema, widget({"items": [{"x": 1, "y": 2}]})) == [
        "Additional properties are not allowed ('y' was unexpected)"
    ]


def test_preserve_unknown_fields_and_explicit_additional_properties_stay_open() -> None:
    schema = schemas().schema_for("example.com/v1", "Widget")
    assert schema is not None
    assert errors(schema, widget({"config": {"any.key": 1}, "open": {"b": 2}})) == []


def test_one_of_branches_are_not_closed() -> None:
    schema = schemas().schema_for("example.com/v1", "Widget")
    assert schema is not None
    assert errors(schema, widget({"choice": {"valueFrom": "x"}})) == []


def test_int_or_string_accepts_both_and_nothing_else() -> None:
    schema = schemas().schema_for("example.com/v1", "Widget")
    assert schema is not None
    assert errors(schema, widget({"port": 8080})) == []
    assert errors(schema, widget({"port": "http"})) == []
    assert errors(schema, widget({"port": 1.5})) != []


def test_nullable_accepts_null() -> None:
    schema = schemas().schema_for("example.com/v1", "Widget")
    assert schema is not None
    assert errors(schema, widget({"note": None})) == []
    assert errors(schema, widget({"size": None})) != []


def test_root_metadata_is_checked_like_object_meta() -> None:
    schema = schemas().schema_for("example.com/v1", "Widget")
    assert schema is not None
    assert errors(schema, widget({}, labels={"a": "b"}, annotations={"c": "d"})) == []
    assert errors(schema, widget({}, label={"a": "b"})) == [
        "Additional properties are not allowed ('label' was unexpected)"
    ]
    assert errors(schema, widget({}, labels={"replicas": 3})) == ["3 is not of type 'string'"]
    assert errors(schema, {**widget({}), "metadata": {"name": "Not_DNS"}}) != []
    assert errors(schema, {**widget({}), "metadata": {}}) == ["'name' is a required property"]


def test_the_input_schema_is_not_modified() -> None:
    source = version("v1", {"type": "object", "properties": {"a": {}}})["schema"]
    strict_schema(source["openAPIV3Schema"])
    assert "additionalProperties" not in source["openAPIV3Schema"]["properties"]["spec"]


def test_versions_not_served_have_no_schema_and_are_explained() -> None:
    loaded = crd_schemas_from(
        [crd([version("v1", SPEC), version("v1beta2", SPEC, served=False)])], origin="crds/"
    )
    assert loaded.schema_for("example.com/v1beta2", "Widget") is None
    assert loaded.why_missing("example.com/v1beta2", "Widget") == (
        "no schema: example.com/v1beta2 Widget is not served by the CRDs in crds/"
        " (served: example.com/v1)"
    )
    assert loaded.why_missing("example.com/v1", "Gadget") == (
        "no schema: example.com/v1 Gadget is not defined by the CRDs in crds/"
    )


def test_the_offline_crds_serve_only_strimzi_v1_and_monitoring_v1(crd_schemas: CrdSchemas) -> None:
    assert sorted(crd_schemas.schemas) == [
        ("kafka.strimzi.io/v1", "Kafka"),
        ("kafka.strimzi.io/v1", "KafkaNodePool"),
        ("kafka.strimzi.io/v1", "KafkaRebalance"),
        ("kafka.strimzi.io/v1", "KafkaTopic"),
        ("kafka.strimzi.io/v1", "KafkaUser"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ]
    assert crd_schemas.groups == {"kafka.strimzi.io", "monitoring.coreos.com"}
