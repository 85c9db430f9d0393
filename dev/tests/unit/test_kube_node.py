"""The single-node cluster's pure parts: config files, the host-state bookkeeping that puts the
host back, the OCI archives of the node's own images, and reading pod states."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

from devstack.kube import configs, dns, host, images, pki, release
from devstack.kube.layout import DNS_SERVICE_IP, POD_CIDR, NodeLayout
from devstack.kube.portforward import local_port, readme_port_forwards

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def layout(tmp_path) -> NodeLayout:
    return NodeLayout(
        state=tmp_path / "kube",
        bin=tmp_path / "bin",
        coredns=tmp_path / "coredns",
        node_ip="192.0.2.2",
        run=tmp_path / "run",
    )


def test_containerd_clamps_oom_score_adj_and_uses_the_nodes_cni_config(layout):
    config = tomllib.loads(configs.containerd_toml(layout))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    # This VM refuses a negative oom_score_adj; without the clamp no sandbox starts.
    assert cri["restrict_oom_score_adj"] is True
    assert cri["cni"]["conf_dir"] == str(layout.config / "cni")
    assert config["grpc"]["address"] == str(layout.containerd_socket)


def test_kubelet_runs_on_cgroup_v1_at_the_host_address_with_cluster_dns(layout):
    kubelet = configs.kubelet_config(layout)
    assert kubelet["failCgroupV1"] is False
    assert kubelet["address"] == "192.0.2.2"
    assert kubelet["clusterDNS"] == [DNS_SERVICE_IP]
    assert kubelet["containerRuntimeEndpoint"] == f"unix://{layout.containerd_socket}"


def test_the_pod_network_is_one_bridge_with_the_host_as_gateway(layout):
    bridge = json.loads(configs.cni_conflist(layout))["plugins"][0]
    assert (bridge["type"], bridge["isGateway"]) == ("bridge", True)
    assert bridge["ipam"]["ranges"] == [[{"subnet": POD_CIDR}]]


def test_kubeconfigs_name_the_api_and_the_users_certificate(layout):
    config = yaml.safe_load(configs.kubeconfig(layout, "kubelet"))
    assert config["clusters"][0]["cluster"]["server"] == "https://192.0.2.2:16443"
    assert config["users"][0]["user"]["client-certificate"].endswith("pki/kubelet.crt")


def test_the_apiserver_certificate_covers_every_name_pods_and_the_host_use(layout):
    names = pki.apiserver_names(layout)
    for name in ("DNS:kubernetes.default.svc", "IP:10.96.0.1", "IP:192.0.2.2", "IP:127.0.0.1"):
        assert name in names


SAVED = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
-A INPUT -j KUBE-FIREWALL
-A INPUT -s 10.0.0.0/8 -m comment --comment "the host's own rule" -j ACCEPT
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -j DROP
COMMIT
*nat
:POSTROUTING ACCEPT [0:0]
:CNI-abc - [0:0]
-A POSTROUTING -s 10.244.0.2/32 -j CNI-abc
COMMIT
"""


def test_iptables_undo_removes_what_was_added_and_keeps_the_hosts_rules():
    before = {"filter": {"INPUT": ['-A INPUT -s 10.0.0.0/8 -m comment --comment '
                                   '"the host\'s own rule" -j ACCEPT'], "FORWARD": []}}  # fmt: skip
    now = host.parse_iptables_save(SAVED)
    assert set(now) == {"filter", "nat"}
    undo = host.iptables_undo(before, now)
    assert undo == [
        ["-t", "filter", "-D", "INPUT", "-j", "KUBE-FIREWALL"],
        ["-t", "filter", "-F", "KUBE-FIREWALL"],
        ["-t", "filter", "-X", "KUBE-FIREWALL"],
        ["-t", "nat", "-F", "POSTROUTING"],
        ["-t", "nat", "-F", "CNI-abc"],
        ["-t", "nat", "-X", "POSTROUTING"],
        ["-t", "nat", "-X", "CNI-abc"],
    ]
    assert host.iptables_undo(now, now) == []


def test_differences_name_what_the_host_still_has():
    before = host.HostState(sysctls={"net.ipv4.ip_forward": "0"}, iptables={}, nft_tables=[],
                            links=["eth0", "lo"], netns=[], cgroups=[])  # fmt: skip
    after = host.HostState(sysctls={"net.ipv4.ip_forward": "1"}, iptables={},
                           nft_tables=["ip filter"], links=["eth0", "lo", "streamsuite0"],
                           netns=[], cgroups=["memory"])  # fmt: skip
    assert host.differences(before, after) == [
        "sysctl net.ipv4.ip_forward: 0 -> 1",
        "nft table ip filter added",
        "link streamsuite0 added",
        "kubepods cgroup in memory added",
    ]
    assert host.differences(before, before) == []
    assert host.HostState.from_json(after.to_json()) == after


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_oci_archive_is_a_named_image_whose_digests_match():
    archive = images.oci_archive("example.local/tool:v1", b"\x7fELF...", {"Entrypoint": ["/tool"]})
    files = _members(archive)

    def blob(digest: str) -> bytes:
        data = files[f"blobs/sha256/{digest.split(':')[1]}"]
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
        return data

    entry = json.loads(files["index.json"])["manifests"][0]
    assert entry["annotations"]["io.containerd.image.name"] == "example.local/tool:v1"
    manifest = json.loads(blob(entry["digest"]))
    config = json.loads(blob(manifest["config"]["digest"]))
    layer = blob(manifest["layers"][0]["digest"])
    assert config["rootfs"]["diff_ids"] == [manifest["layers"][0]["digest"]]
    assert config["config"]["Entrypoint"] == ["/tool"]
    assert _members(layer) == {"tool": b"\x7fELF..."}
    assert (
        images.oci_archive("example.local/tool:v1", b"\x7fELF...", {"Entrypoint": ["/tool"]})
        == archive
    )  # reproducible: the same bytes give the same image


def test_coredns_serves_the_address_the_kubelet_gives_pods_unprivileged():
    objects = {o["kind"]: o for o in dns.objects()}
    assert objects["Service"]["spec"]["clusterIP"] == DNS_SERVICE_IP
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert {p["targetPort"] for p in objects["Service"]["spec"]["ports"]} == {1053}
    assert ".:1053" in objects["ConfigMap"]["data"]["Corefile"]


def test_the_readme_port_forwards_are_found_as_written():
    commands = readme_port_forwards(ROOT / "README.md")
    assert [local_port(c) for c in commands] == [8080, 8000]
    assert all(c[:3] == ["kubectl", "-n", "streamsuite"] for c in commands)


def _pod(name, waiting=None, ready="True", owner="ReplicaSet"):
    state = {"waiting": waiting} if waiting else {"running": {}}
    return {
        "metadata": {"name": name, "ownerReferences": [{"kind": owner}]},
        "status": {"conditions": [{"type": "Ready", "status": ready}],
                   "containerStatuses": [{"name": "c", "state": state}]},
    }  # fmt: skip


def test_fatal_pod_states_are_named_with_the_pods_own_message():
    pods = [
        _pod("ok"),
        _pod("bad", {"reason": "CreateContainerConfigError",
                     "message": 'couldn\'t find key password in Secret x'}, ready="False"),
        _pod("starting", {"reason": "ContainerCreating"}, ready="False"),
    ]  # fmt: skip
    assert release.fatal_states(pods) == [
        "bad/c: CreateContainerConfigError: couldn't find key password in Secret x"
    ]
    assert release.unready(pods) == ["bad", "starting"]
    assert release.unready([_pod("hook", ready="False", owner="Job")]) == []


@pytest.mark.parametrize("raw", ["soon", "0", "-5", "nan", "inf"])
def test_a_kube_e2e_timeout_that_is_not_a_positive_number_is_named(raw):
    from devstack.kube.e2e import install_timeout_s
    from devstack.procs import StackError

    with pytest.raises(StackError, match=f"KUBE_E2E_TIMEOUT_S='{raw}' is not a positive"):
        install_timeout_s({"KUBE_E2E_TIMEOUT_S": raw})


def test_the_kube_e2e_timeout_defaults_and_reads_seconds():
    from devstack.kube.e2e import DEFAULT_INSTALL_TIMEOUT_S, install_timeout_s

    assert install_timeout_s({}) == DEFAULT_INSTALL_TIMEOUT_S
    assert install_timeout_s({"KUBE_E2E_TIMEOUT_S": " 600 "}) == 600.0
