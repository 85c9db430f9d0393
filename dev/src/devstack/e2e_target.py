"""The deployment the end-to-end suite (tests/e2e) drives, named by the environment, so the same
tests run against the processes of `make test`, the containers of `make container-test` and the
pods of `make kube-e2e`:

    STREAMSUITE_E2E_API_URL      query API base URL   (default: the local stack's, port 8000)
    STREAMSUITE_E2E_WEB_URL      web UI base URL      (default: the local stack's, port 8080)
    STREAMSUITE_E2E_HEALTH_URLS  base URLs whose /healthz and /metrics must answer,
                                 space-separated (default: the four services of the local stack)
    STREAMSUITE_E2E_INBOX        directory the publisher watches (default: the stack's inbox)
    STREAMSUITE_E2E_INBOX_POD    instead: `<namespace>/<label selector>` of the publisher pod;
                                 files go in with `kubectl cp` and `kubectl exec mv`
    STREAMSUITE_E2E_TOKEN        bearer token (read+submit) for the API and the UI (default:
                                 one signed with the local stack's secret, var/secrets)

The defaults follow DEVSTACK_VAR and DEVSTACK_SERVICE_PORT_OFFSET.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from devstack.auth import client_token
from devstack.services import SERVICES
from devstack.settings import StackSettings
from devstack.testing import http_get

POD_INBOX = "/var/lib/streamsuite/inbox"


class Inbox(Protocol):
    def drop(self, name: str, data: bytes) -> None:
        """Put a whole file named ``name`` in the publisher's inbox, never half of one."""


@dataclasses.dataclass(frozen=True)
class LocalInbox:
    path: Path

    def drop(self, name: str, data: bytes) -> None:
        # Written beside its final name, readable by the service's user, then renamed in.
        tmp = self.path / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.chmod(0o644)
        tmp.rename(self.path / name)


@dataclasses.dataclass(frozen=True)
class PodInbox:
    """The inbox volume of the publisher pod: `kubectl cp` to a hidden name (the publisher skips
    dot files), then `kubectl exec mv` renames it in at once."""

    namespace: str
    selector: str
    path: str = POD_INBOX

    def pod(self) -> str:
        pods = json.loads(
            _kubectl("-n", self.namespace, "get", "pods", "-l", self.selector, "-o", "json")
        )["items"]
        running = [
            p["metadata"]["name"]
            for p in pods
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
        ]
        if not running:
            raise AssertionError(f"no running pod matches {self.selector} in {self.namespace}")
        return running[0]

    def drop(self, name: str, data: bytes) -> None:
        pod, hidden = self.pod(), f"{self.path}/.{name}.tmp"
        with tempfile.NamedTemporaryFile(suffix=".upload") as local:
            local.write(data)
            local.flush()
            _kubectl("-n", self.namespace, "cp", local.name, f"{pod}:{hidden}")
        _kubectl("-n", self.namespace, "exec", pod, "--", "mv", hidden, f"{self.path}/{name}")

    def drop_many(self, files: dict[str, bytes]) -> None:
        """Several files with one `kubectl cp` of a hidden directory and one `mv`, so they
        arrive together (the publisher skips hidden directories)."""
        pod = self.pod()
        batch = f"{self.path}/.batch-{uuid.uuid4().hex[:8]}"
        with tempfile.TemporaryDirectory() as local:
            for name, data in files.items():
                (Path(local) / name).write_bytes(data)
            _kubectl("-n", self.namespace, "cp", local, f"{pod}:{batch}")
        _kubectl("-n", self.namespace, "exec", pod, "--", "sh", "-c",
                 f'mv "{batch}"/* "{self.path}"/ && rmdir "{batch}"')  # fmt: skip


def _kubectl(*args: str) -> str:
    result = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


@dataclasses.dataclass(frozen=True)
class Target:
    api: str
    web: str
    health: list[str]
    inbox: Inbox
    token: str = ""

    @property
    def auth(self) -> dict[str, str]:
        """The header that authenticates a test client to the API and the UI."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, url: str, timeout_s: float = 10) -> tuple[int, str, str]:
        """(status, content type, body) of an authenticated GET; status 0 when nothing answers."""
        return http_get(url, timeout_s, headers=self.auth)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Target:
        env = os.environ if env is None else env
        settings = StackSettings.from_env(env)

        def local(port: int) -> str:
            return f"http://127.0.0.1:{settings.service_port(port)}"

        inbox: Inbox
        if env.get("STREAMSUITE_E2E_INBOX_POD"):
            namespace, _, selector = env["STREAMSUITE_E2E_INBOX_POD"].partition("/")
            inbox = PodInbox(namespace, selector)
        else:
            inbox = LocalInbox(Path(env.get("STREAMSUITE_E2E_INBOX", settings.inbox)))
        health = env.get("STREAMSUITE_E2E_HEALTH_URLS", "").split()
        return cls(
            api=env.get("STREAMSUITE_E2E_API_URL", local(8000)).rstrip("/"),
            web=env.get("STREAMSUITE_E2E_WEB_URL", local(8080)).rstrip("/"),
            health=[url.rstrip("/") for url in health] or [local(s.port) for s in SERVICES],
            inbox=inbox,
            token=client_token(env),
        )
