"""The node's configuration files, as pure functions of its layout (tested without a node).

Settings that differ from a stock node, and why:
- containerd ``restrict_oom_score_adj``: this kind of VM refuses a negative oom_score_adj even
  for root, and the CRI asks -998 for every pod sandbox; without it no pod starts.
- kubelet ``failCgroupV1: false``: the machines have cgroup v1 (later releases refuse it).
- kubelet ``address`` and ``--node-ip``: the host's address, which the apiserver dials for
  exec, logs and port-forward (the kubelet refuses a loopback node IP).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from devstack.kube.layout import (
    BRIDGE,
    CLUSTER_DOMAIN,
    DNS_SERVICE_IP,
    NODE_NAME,
    PAUSE_IMAGE,
    POD_CIDR,
    PORTS,
    NodeLayout,
)


def containerd_toml(layout: NodeLayout) -> str:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""# Written by devstack (make kube-up); edit dev/src/devstack/kube/configs.py instead.
version = 2
root = "{layout.state / "containerd"}"
state = "{layout.run / "containerd"}"
[grpc]
  address = "{layout.containerd_socket}"
[ttrpc]
  address = "{layout.containerd_socket}.ttrpc"
[metrics]
  address = ""
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  enable_selinux = false
  restrict_oom_score_adj = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{layout.config / "cni"}"
"""


def cni_conflist(layout: NodeLayout) -> str:
    """One bridge for the node's pods; the host is their gateway (and reaches them directly)."""
    return json.dumps(
        {
            "cniVersion": "0.4.0",
            "name": "streamsuite",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(layout.state / "cni" / "ipam"),
                        "ranges": [[{"subnet": POD_CIDR}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        },
        indent=2,
    )


def kubelet_config(layout: NodeLayout) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(layout.pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "address": layout.node_ip,
        "port": PORTS["kubelet"],
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": PORTS["kubelet healthz"],
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [DNS_SERVICE_IP],
        "resolvConf": "/etc/resolv.conf",
        "serializeImagePulls": False,
        # A test node on a shared disk: evict only when really short, never GC our images.
        "evictionHard": {
            "memory.available": "200Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "maxPods": 40,
    }


def kube_proxy_config(layout: NodeLayout) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(layout.pki / "kube-proxy.kubeconfig")},
        "clusterCIDR": POD_CIDR,
        "bindAddress": "127.0.0.1",
        "metricsBindAddress": f"127.0.0.1:{PORTS['kube-proxy metrics']}",
        "healthzBindAddress": f"127.0.0.1:{PORTS['kube-proxy healthz']}",
        "hostnameOverride": NODE_NAME,
        # 0: leave the host's conntrack sysctls alone.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"masqueradeAll": False, "localhostNodePorts": False},
    }


def kubeconfig(layout: NodeLayout, user: str) -> str:
    """A kubeconfig that authenticates with the client certificate ``pki/<user>.crt``."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "streamsuite",
                    "cluster": {
                        "server": layout.api_url,
                        "certificate-authority": str(layout.pki / "ca.crt"),
                    },
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate": str(layout.pki / f"{user}.crt"),
                        "client-key": str(layout.pki / f"{user}.key"),
                    },
                }
            ],
            "contexts": [
                {"name": "streamsuite", "context": {"cluster": "streamsuite", "user": user}}
            ],
            "current-context": "streamsuite",
        },
        sort_keys=False,
    )


def write_all(layout: NodeLayout) -> None:
    """Every config file of the node, written afresh on each start."""
    cni = layout.config / "cni"
    cni.mkdir(parents=True, exist_ok=True)
    (layout.config / "containerd.toml").write_text(containerd_toml(layout))
    (cni / "10-streamsuite.conflist").write_text(cni_conflist(layout))
    (layout.config / "kubelet.yaml").write_text(yaml.safe_dump(kubelet_config(layout)))
    (layout.config / "kube-proxy.yaml").write_text(yaml.safe_dump(kube_proxy_config(layout)))
