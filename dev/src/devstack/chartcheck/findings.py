"""What every check returns: one problem, on one object, at one field."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable


@dataclasses.dataclass(frozen=True, order=True)
class Finding:
    ref: str  # the object and the template it came from, see Manifest.ref
    check: str  # which check found it, e.g. "schema k8s 1.34", "schema crd", "probes"
    message: str  # the field path and what is wrong with it

    def __str__(self) -> str:
        return f"{self.ref}: {self.message} [{self.check}]"


def unique(findings: Iterable[Finding]) -> list[Finding]:
    """Drop repeats (several renders or versions find the same thing), keeping first-seen order."""
    return list(dict.fromkeys(findings))
