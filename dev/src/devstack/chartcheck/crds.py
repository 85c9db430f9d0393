"""JSON schemas for custom resources, made from the CustomResourceDefinitions that ship offline.

The CRDs' ``openAPIV3Schema`` is loose where the API server is loose: unknown fields are
silently pruned, so a typo in a Kafka CR is dropped without a word. Like kubeconform's
``-strict``, every structural object that lists its ``properties`` is closed here
(``additionalProperties: false``), so the typo becomes a finding instead.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema.protocols import Validator

from devstack.chartcheck.helm import REPO_ROOT

# The CRD copies live beside the checkout (shared/k8s-crds), where CI clones the repo too.
DEFAULT_CRD_DIR = REPO_ROOT.parent / "shared" / "k8s-crds"

DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

# The root `metadata` of a custom resource is only `type: object` in a CRD (the API server
# checks ObjectMeta itself); this stands in for that check, so `metadata.label:` is caught.
OBJECT_META: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": DNS1123_SUBDOMAIN},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": {"type": ["string", "null"]},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "managedFields": {"type": "array"},
        "selfLink": {"type": "string"},
    },
    "additionalProperties": False,
}

# Keywords whose sub-schemas are value validations, not structure: an `oneOf` branch that lists
# `properties: {value: {}}` only says which field must be present, so it must stay open.
_VALUE_VALIDATION = ("oneOf", "anyOf", "allOf", "not")


@dataclasses.dataclass(frozen=True)
class CrdSchemas:
    """The strict schemas of every served version, keyed by ``(apiVersion, kind)``."""

    schemas: Mapping[tuple[str, str], dict[str, Any]]
    origin: str  # where the CRDs were read from, for messages
    # Every kind each group defines, with the versions it serves, to explain a miss.
    served: Mapping[tuple[str, str], tuple[str, ...]] = dataclasses.field(default_factory=dict)
    # Compiled validators, made on first use (a Kafka CR schema is big; build it once).
    _validators: dict[tuple[str, str], Validator] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def groups(self) -> set[str]:
        return {group for group, _ in self.served}

    def schema_for(self, api_version: str, kind: str) -> dict[str, Any] | None:
        return self.schemas.get((api_version, kind))

    def validator_for(self, api_version: str, kind: str) -> Validator | None:
        key = (api_version, kind)
        if key not in self._validators:
            schema = self.schemas.get(key)
            if schema is None:
                return None
            self._validators[key] = jsonschema.Draft202012Validator(schema)
        return self._validators[key]

    def why_missing(self, api_version: str, kind: str) -> str:
        """Why ``schema_for`` found nothing, in words for a finding."""
        group = api_version.split("/", 1)[0] if "/" in api_version else ""
        versions = self.served.get((group, kind))
        if versions:
            served = ", ".join(f"{group}/{v}" for v in versions)
            return (
                f"no schema: {api_version} {kind} is not served by the CRDs in {self.origin}"
                f" (served: {served})"
            )
        return f"no schema: {api_version} {kind} is not defined by the CRDs in {self.origin}"


def load_crd_schemas(directory: str | Path = DEFAULT_CRD_DIR) -> CrdSchemas:
    """Every ``*.yaml`` under ``directory`` (recursively); non-CRD documents are skipped."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"CRD directory {directory} does not exist")
    documents = []
    for path in sorted(directory.rglob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return crd_schemas_from(documents, origin=_shown(directory))


def _shown(directory: Path) -> str:
    # ../shared/k8s-crds reads better in a finding than the absolute path.
    relative = os.path.relpath(directory)
    return relative if relative.count("..") <= 2 else str(directory)


def crd_schemas_from(documents: Iterable[Mapping[str, Any]], *, origin: str) -> CrdSchemas:
    """The strict schemas of the CRDs among ``documents`` (pure: for tests and for the loader)."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    served: dict[tuple[str, str], tuple[str, ...]] = {}
    for crd in documents:
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd["spec"]
        group, kind = spec["group"], spec["names"]["kind"]
        versions = [v for v in spec.get("versions", []) if v.get("served", True)]
        served[(group, kind)] = tuple(v["name"] for v in versions)
        for version in versions:
            # apiextensions/v1beta1 CRDs kept one schema for all versions under spec.validation.
            source = (version.get("schema") or spec.get("validation") or {}).get(
                "openAPIV3Schema", {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            )
            schemas[(f"{group}/{version['name']}", kind)] = strict_schema(source)
    return CrdSchemas(schemas=schemas, origin=origin, served=served)


def strict_schema(open_api: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON schema for the whole object: closed objects, ObjectMeta checked at the root."""
    schema = _strict(copy.deepcopy(dict(open_api)))
    schema.setdefault("properties", {})["metadata"] = copy.deepcopy(OBJECT_META)
    schema.setdefault("required", [])
    for field in ("apiVersion", "kind", "metadata"):
        if field not in schema["required"]:
            schema["required"].append(field)
    schema["additionalProperties"] = False
    return schema


def _strict(node: dict[str, Any]) -> dict[str, Any]:
    """Rewrite one structural node (and those below it) in place; OpenAPI quirks to JSON schema."""
    if node.get("x-kubernetes-int-or-string"):
        # OpenAPI's "integer or string"; CRDs usually spell it as anyOf, but not always.
        if "type" in node:
            node["type"] = ["integer", "string"]
        elif not any(k in node for k in _VALUE_VALIDATION):
            node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        node["type"] = [*types, "null"]
        if "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    if "properties" in node and "additionalProperties" not in node and not preserve:
        node["additionalProperties"] = False
    for child in node.get("properties", {}).values():
        if isinstance(child, dict):
            _strict(child)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            _strict(node[key])
    return node
