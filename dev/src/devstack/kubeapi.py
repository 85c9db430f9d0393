"""A real Kubernetes API server without nodes, for installing the Helm chart in tests: etcd and
kube-apiserver (both built or unpacked into .cache/tools by `make kube-apiserver`) on free
loopback ports, a token with cluster-admin rights, and a kubeconfig that helm reads.

Objects are validated, defaulted and stored exactly as on a cluster; nothing is scheduled.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from devstack.procs import Child, StackError, wait_until
from devstack.testing import free_port


def binary(variable: str) -> Path:
    """The path the Makefile exports in ``variable`` (KUBE_APISERVER, ETCD)."""
    path = Path(os.environ.get(variable, ""))
    if not (path.name and path.is_file()):
        raise StackError(f"{variable} does not name a binary: run `make kube-apiserver`")
    return path


class KubeApiServer:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.token = uuid.uuid4().hex
        self.port = free_port()
        self.etcd_port = free_port()
        self.kubeconfig = workdir / "kubeconfig"
        self._children: list[Child] = []
        self._resources: dict[str, dict[str, tuple[str, bool]]] = {}
        # The server's certificate is self-signed by the server itself at start-up.
        self._tls = ssl.create_default_context()
        self._tls.check_hostname = False
        self._tls.verify_mode = ssl.CERT_NONE

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> KubeApiServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        etcd = self._child(
            "etcd",
            [
                str(binary("ETCD")),
                "--data-dir", str(self.workdir / "etcd"),
                "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
                "--listen-peer-urls", f"http://127.0.0.1:{free_port()}",
            ],
        )  # fmt: skip
        wait_until(self._etcd_healthy, what="etcd", timeout_s=30, child=etcd)
        key = self.workdir / "service-accounts.key"
        subprocess.run(
            ["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True
        )
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f"{self.token},admin,admin,system:masters\n")
        apiserver = self._child(
            "kube-apiserver",
            [
                str(binary("KUBE_APISERVER")),
                "--etcd-servers", f"http://127.0.0.1:{self.etcd_port}",
                "--bind-address", "127.0.0.1",
                "--secure-port", str(self.port),
                "--cert-dir", str(self.workdir / "certs"),
                "--token-auth-file", str(tokens),
                "--authorization-mode", "RBAC",
                "--service-account-issuer", "https://kubernetes.default.svc",
                "--service-account-key-file", str(key),
                "--service-account-signing-key-file", str(key),
                "--service-cluster-ip-range", "10.96.0.0/16",
            ],
        )  # fmt: skip
        wait_until(self._ready, what="kube-apiserver", timeout_s=120, child=apiserver)
        self.kubeconfig.write_text(self._kubeconfig())
        return self

    def stop(self) -> None:
        for child in reversed(self._children):
            child.stop(timeout_s=10)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, body) of one API call as cluster-admin; JSON bodies decoded."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (our own https:// URL)
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, context=self._tls, timeout=30) as response:  # noqa: S310
                return response.status, _decoded(response)
        except urllib.error.HTTPError as exc:
            return exc.code, _decoded(exc)

    def collection(self, obj: dict[str, Any], namespace: str) -> str:
        """The API path that creates ``obj`` (found through discovery), in ``namespace`` when the
        kind is namespaced."""
        api_version, kind = obj["apiVersion"], obj["kind"]
        if api_version not in self._resources:
            prefix = "/api/" if "/" not in api_version else "/apis/"
            status, listing = self.request("GET", prefix + api_version)
            if status != 200:
                raise StackError(f"the API server does not serve {api_version} ({status})")
            self._resources[api_version] = {
                r["kind"]: (r["name"], r["namespaced"])
                for r in listing["resources"]
                if "/" not in r["name"]  # subresources such as deployments/scale
            }
        plural, namespaced = self._resources[api_version][kind]
        prefix = "/api/" if "/" not in api_version else "/apis/"
        where = f"/namespaces/{namespace}" if namespaced else ""
        return f"{prefix}{api_version}{where}/{plural}"

    def _child(self, name: str, argv: list[str]) -> Child:
        child = Child(
            name,
            argv,
            log_path=self.workdir / f"{name}.log",
            pid_path=self.workdir / f"{name}.pid",
        ).start()
        self._children.append(child)
        return child

    def _etcd_healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.etcd_port}/health"
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def _ready(self) -> bool:
        try:
            return self.request("GET", "/readyz")[0] == 200
        except OSError:
            return False

    def _kubeconfig(self) -> str:
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "test",
                        "cluster": {"server": self.url, "insecure-skip-tls-verify": True},
                    }
                ],
                "users": [{"name": "admin", "user": {"token": self.token}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
                "current-context": "test",
            }
        )


def _decoded(response: Any) -> Any:
    body = response.read()
    if "json" in (response.headers.get("Content-Type") or ""):
        return json.loads(body)
    return body.decode(errors="replace")
