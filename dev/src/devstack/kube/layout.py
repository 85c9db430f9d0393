"""Where the node keeps its state, which ports and networks it uses, and where its binaries are.

One node per machine: the ports, the bridge and the iptables chains are host-global."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import subprocess
from pathlib import Path

from devstack.procs import StackError
from devstack.settings import StackSettings

KUBE_VERSION = "v1.34.0"
NODE_NAME = "streamsuite-node"
BRIDGE = "streamsuite0"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
API_SERVICE_IP = "10.96.0.1"  # the first address of SERVICE_CIDR: the `kubernetes` Service
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
# The pause image only has to carry this name, which containerd's sandbox_image names.
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.1"
COREDNS_IMAGE = "streamsuite.local/coredns:v1.12.1"
# Ports on the host; fixed, and checked free before anything starts.
PORTS = {
    "kube-apiserver": 16443,
    "etcd": 12379,
    "etcd peer": 12380,
    "kubelet": 10250,
    "kubelet healthz": 10248,
    "kube-proxy metrics": 10249,
    "kube-proxy healthz": 10256,
    "kube-controller-manager": 10257,
    "kube-scheduler": 10259,
}
# containerd's socket path must stay short (a Unix socket path has 108 bytes), so its
# runtime state lives under /run, not in the checkout.
RUN_DIR = Path("/run/streamsuite-kube")
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet",
              "kube-proxy", "kubectl")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class NodeLayout:
    state: Path  # var/kube: PKI, configs, etcd, containerd's images, kubelet, logs, pids
    bin: Path  # the Kubernetes binaries (make kube-binaries)
    coredns: Path  # the CoreDNS binary (make kube-binaries)
    node_ip: str
    run: Path = RUN_DIR

    @classmethod
    def from_env(cls, settings: StackSettings | None = None) -> NodeLayout:
        settings = settings or StackSettings.from_env()
        env = os.environ
        bin_dir = Path(env.get("KUBE_BIN", settings.cache / "tools" / f"kube-{KUBE_VERSION}"))
        coredns = Path(env.get("COREDNS", settings.cache / "tools" / "coredns" / "coredns"))
        return cls(
            state=Path(env.get("DEVSTACK_KUBE_STATE", settings.var / "kube")).resolve(),
            bin=bin_dir.resolve(),
            coredns=coredns.resolve(),
            node_ip=env.get("DEVSTACK_KUBE_NODE_IP") or host_ip(),
        )

    def binary(self, name: str) -> Path:
        path = self.bin / name
        if not path.is_file():
            raise StackError(f"{path} is missing: run `make kube-binaries`")
        return path

    @property
    def api_url(self) -> str:
        return f"https://{self.node_ip}:{PORTS['kube-apiserver']}"

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def config(self) -> Path:
        return self.state / "config"

    @property
    def logs(self) -> Path:
        return self.state / "log"

    @property
    def pids(self) -> Path:
        return self.state / "run"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.pki / "admin.kubeconfig"

    @property
    def containerd_socket(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def volumes(self) -> Path:
        """hostPath PersistentVolumes for claims without a provisioner (one node, no CSI)."""
        return self.state / "volumes"


def host_ip() -> str:
    """The host's address on its default route: the node's InternalIP, which pods reach too
    (the apiserver, the kubelet, and services the host runs for them listen there)."""
    try:
        routes = json.loads(
            subprocess.run(
                ["ip", "-j", "-4", "route", "show", "default"],
                capture_output=True, text=True, check=True,
            ).stdout or "[]"
        )  # fmt: skip
        device = routes[0]["dev"]
        addresses = json.loads(
            subprocess.run(
                ["ip", "-j", "-4", "addr", "show", "dev", device],
                capture_output=True, text=True, check=True,
            ).stdout
        )  # fmt: skip
        address = addresses[0]["addr_info"][0]["local"]
    except (OSError, subprocess.CalledProcessError, ValueError, LookupError) as exc:
        raise StackError(
            "cannot find this host's address on its default route; set DEVSTACK_KUBE_NODE_IP"
        ) from exc
    if ipaddress.ip_address(address) in ipaddress.ip_network(POD_CIDR):
        raise StackError(f"the host address {address} lies in the pod network {POD_CIDR}")
    return address
