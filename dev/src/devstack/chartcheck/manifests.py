"""``helm template`` output as objects, each remembering the template it came from."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import yaml

# A document separator line: `---`, optionally followed by blanks or a comment.
_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
_SOURCE = re.compile(r"^# Source: (\S.*?)\s*$", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Manifest:
    source: str  # the `# Source:` path helm prints, e.g. "streamsuite/templates/web/svc.yaml"
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        metadata = self.obj.get("metadata")
        return str(metadata.get("name", "")) if isinstance(metadata, dict) else ""

    @property
    def template(self) -> str:
        """The source path without the chart's name, as people read it in the chart."""
        return self.source.split("/", 1)[1] if "/" in self.source else self.source

    @property
    def ref(self) -> str:
        where = f" ({self.template})" if self.source else ""
        return f"{self.kind or '?'}/{self.name or '?'}{where}"


def split_documents(text: str) -> list[tuple[str, str]]:
    """``(source, document text)`` for each non-blank document, in order, text untouched.

    The raw text is kept (not re-dumped YAML) so that ``render`` writes exactly what helm printed.
    """
    documents = []
    for chunk in _SEPARATOR.split(text):
        body = chunk.strip("\n")
        if not _has_content(body):
            continue
        match = _SOURCE.search(body)
        documents.append((match.group(1) if match else "", body + "\n"))
    return documents


def parse_manifests(text: str) -> list[Manifest]:
    """The objects in a multi-document YAML text; empty documents (disabled templates) dropped."""
    manifests = []
    for source, body in split_documents(text):
        for obj in yaml.safe_load_all(body):
            if obj is None:
                continue
            if not isinstance(obj, dict):
                raise ValueError(f"{source or 'manifest'}: a document is not a mapping: {obj!r}")
            manifests.append(Manifest(source=source, obj=obj))
    return manifests


def _has_content(body: str) -> bool:
    # Only comments and blank lines: a template that rendered to nothing.
    return any(line.strip() and not line.lstrip().startswith("#") for line in body.splitlines())
