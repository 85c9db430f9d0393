"""kubectl as the node's admin: run a command, read JSON, apply objects, wait for conditions."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devstack.procs import StackError


class Kubectl:
    def __init__(self, binary: Path, kubeconfig: Path):
        self.binary = binary
        self.kubeconfig = kubeconfig

    @property
    def env(self) -> dict[str, str]:
        """The environment in which a plain `kubectl` (and helm) talk to this node."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig),
                "PATH": f"{self.binary.parent}:{os.environ.get('PATH', '')}"}  # fmt: skip

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args], input=input, env=self.env, capture_output=True,
            text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise StackError(f"kubectl {' '.join(args[:3])}: {' / '.join(detail)}")
        return result

    def get(self, *args: str) -> Any:
        return json.loads(self.run("get", *args, "-o", "json").stdout)

    def apply(self, objects: Sequence[dict[str, Any]]) -> None:
        self.run("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                       "items": list(objects)}))  # fmt: skip

    def answers(self) -> bool:
        try:
            return self.run("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False
