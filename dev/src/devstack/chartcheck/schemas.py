"""Every rendered object against a strict schema: Kubernetes' own kinds per Kubernetes version
(the JSON schemas kubernetes-validate ships), custom resources against their CRDs."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from importlib import resources
from typing import Any

import jsonschema
import kubernetes_validate
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from devstack.chartcheck.crds import CrdSchemas
from devstack.chartcheck.findings import Finding, unique
from devstack.chartcheck.manifests import Manifest

DEFAULT_KUBE_VERSIONS = ("1.31", "1.34")
_MAX_MESSAGE = 240


class UnsupportedVersionError(ValueError):
    """kubernetes-validate ships no schemas for this Kubernetes version."""


def validate(
    manifests: Iterable[Manifest],
    *,
    kube_versions: Sequence[str] = DEFAULT_KUBE_VERSIONS,
    crd_schemas: CrdSchemas,
) -> list[Finding]:
    """Findings for every object that its schema refuses, or that has no schema at all."""
    findings: list[Finding] = []
    for manifest in manifests:
        api_version, kind = manifest.obj.get("apiVersion"), manifest.obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            findings.append(Finding(manifest.ref, "schema", "apiVersion and kind must be set"))
            continue
        group = api_version.split("/", 1)[0] if "/" in api_version else ""
        if group in crd_schemas.groups:
            findings += _crd_findings(manifest, api_version, kind, crd_schemas)
        else:
            findings += _kubernetes_findings(manifest, api_version, kind, kube_versions)
    return unique(findings)


def _crd_findings(
    manifest: Manifest, api_version: str, kind: str, crds: CrdSchemas
) -> list[Finding]:
    validator = crds.validator_for(api_version, kind)
    if validator is None:
        return [Finding(manifest.ref, "schema crd", crds.why_missing(api_version, kind))]
    return [Finding(manifest.ref, "schema crd", m) for m in error_messages(validator, manifest.obj)]


def _kubernetes_findings(
    manifest: Manifest, api_version: str, kind: str, kube_versions: Sequence[str]
) -> list[Finding]:
    # The same error in every version is one finding naming all of them.
    by_message: dict[str, list[str]] = {}
    for version in kube_versions:
        validator = kubernetes_validator(version, api_version, kind)
        if validator is None:
            group = api_version.split("/", 1)[0] if "/" in api_version else "core"
            messages = [
                f"no schema: {api_version} {kind} is not a Kubernetes kind"
                f" (and no CRD given defines the group {group})"
            ]
        else:
            messages = error_messages(validator, manifest.obj)
        for message in messages:
            by_message.setdefault(message, []).append(version)
    return [
        Finding(manifest.ref, f"schema k8s {', '.join(versions)}", message)
        for message, versions in by_message.items()
    ]


def error_messages(validator: jsonschema.protocols.Validator, obj: Any) -> list[str]:
    """Every error (not just the first), each as ``json.path: message``, sorted by path."""
    messages: list[tuple[tuple[str, ...], str]] = []
    for error in validator.iter_errors(obj):
        for path, message in _explain(error):
            messages.append((tuple(str(p) for p in path), f"{json_path(path)}: {message}"))
    return [message for _, message in sorted(set(messages))]


def _explain(error: ValidationError) -> Iterator[tuple[list[Any], str]]:
    if error.context:
        # oneOf/anyOf: the branch that came closest says more than "is not valid under any".
        error = best_match(error.context)
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        # One finding per unknown field, with the field in the path, e.g. spec.kafka.foo.
        known = set(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        extras = [
            key
            for key in error.instance
            if key not in known and not any(re.search(p, key) for p in patterns)
        ]
        for key in sorted(extras):
            yield [*path, key], f"Additional properties are not allowed ('{key}' was unexpected)"
        if extras:
            return
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    yield path, message


def json_path(path: Iterable[Any]) -> str:
    """``["spec", "listeners", 0, "tls"]`` -> ``spec.listeners[0].tls``; ``(root)`` for []."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{json.dumps(str(part))}]"
    return text or "(root)"


# -- Kubernetes' own kinds: the strict schemas inside the kubernetes-validate wheel ----------
# kubernetes_validate.validate() stops at the first error and reloads 1.5 MB of definitions on
# every call; the same files, loaded once per version, give every error of every object.


def schema_dir(version: str) -> str:
    """The wheel's strict schema directory for ``major.minor``, e.g. ``v1.31.0-local-strict``."""
    wanted = _major_minor(version)
    available = [v for v in kubernetes_validate.utils.all_versions() if _major_minor(v) == wanted]
    if not available:
        raise UnsupportedVersionError(
            f"kubernetes-validate {kubernetes_validate.__version__} has no schemas for"
            f" Kubernetes {version}"
        )
    return f"v{available[-1]}-local-strict"


def _major_minor(version: str) -> tuple[int, int]:
    match = re.match(r"^v?(\d+)\.(\d+)", version)
    if not match:
        raise UnsupportedVersionError(f"{version!r} is not a Kubernetes version like 1.31")
    return int(match.group(1)), int(match.group(2))


def _schema_file(version: str, name: str) -> Any:
    root = resources.files("kubernetes_validate") / "kubernetes-json-schema" / schema_dir(version)
    entry = root / name
    if not entry.is_file():
        return None
    return json.loads(entry.read_text())


@functools.lru_cache(maxsize=8)
def _registry(version: str) -> Registry:
    definitions = _schema_file(version, "_definitions.json")
    return Resource.from_contents(definitions) @ Registry()


@functools.lru_cache(maxsize=512)
def kubernetes_validator(
    version: str, api_version: str, kind: str
) -> jsonschema.protocols.Validator | None:
    """The strict validator of one kind in one Kubernetes version; None if there is no such kind."""
    # apps/v1 -> apps-v1, networking.k8s.io/v1 -> networking-v1, v1 -> v1 (as kubernetes-validate)
    suffix = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = _schema_file(version, f"{kind.lower()}-{suffix}.json")
    if schema is None:
        return None
    return jsonschema.Draft202012Validator(schema, registry=_registry(version))
