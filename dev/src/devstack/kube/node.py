"""Start and stop the single-node cluster: containerd, etcd, the control plane, the kubelet,
kube-proxy, then CoreDNS. Each runs as a daemon with its pid in var/kube/run and its log in
var/kube/log, so `make kube-down` (another process) can stop what `make kube-up` started.

Every start is a fresh cluster (new certificates, empty etcd); containerd keeps its images.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from devstack.kube import configs, dns, host, images, pki
from devstack.kube.kubectl import Kubectl
from devstack.kube.layout import (
    BRIDGE,
    NODE_NAME,
    PORTS,
    SERVICE_CIDR,
    NodeLayout,
)
from devstack.procs import Child, StackError, port_in_use, wait_until
from devstack.settings import StackSettings
from streamsuite_common.pids import pid_alive

# In start order; stopped in reverse.
DAEMONS = ("containerd", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
           "kubelet", "kube-proxy")  # fmt: skip
BASELINE = "host-baseline.json"


def preflight(layout: NodeLayout) -> None:
    """One clear line for each reason this machine cannot host the node."""
    if os.geteuid() != 0:
        raise StackError("the Kubernetes node needs root (mounts, network namespaces, iptables)")
    if "overlay" not in Path("/proc/filesystems").read_text():
        raise StackError("the kernel has no overlayfs, which containerd's snapshotter needs")
    if (
        not Path("/sys/fs/cgroup/memory").is_dir()
        and not Path("/sys/fs/cgroup/cgroup.controllers").is_file()
    ):
        raise StackError("no cgroup memory controller under /sys/fs/cgroup")
    missing = [tool for tool in ("containerd", "runc", "ctr", "iptables", "nft", "openssl", "gcc")
               if shutil.which(tool) is None]  # fmt: skip
    if not Path("/usr/lib/cni/bridge").is_file():
        missing.append("containernetworking-plugins")
    if missing:
        raise StackError(f"missing {', '.join(missing)}: run `make kube-deps`")
    for component in (*DAEMONS[2:], "kubectl"):
        layout.binary(component)
    etcd_binary()
    taken = [f"{port} ({what})" for what, port in PORTS.items() if port_in_use(port)]
    if taken:
        raise StackError(f"ports in use: {', '.join(taken)} (is a node already up?)")


def etcd_binary() -> Path:
    """$ETCD (the Makefile sets it), else Debian's etcd as `make kube-binaries` unpacks it."""
    default = StackSettings.from_env().cache / "tools" / "etcd" / "usr" / "bin" / "etcd"
    path = Path(os.environ.get("ETCD") or default)
    if not path.is_file():
        raise StackError(f"no etcd at {path}: run `make kube-binaries`")
    return path


class Node:
    def __init__(self, layout: NodeLayout):
        self.layout = layout
        self.kubectl = Kubectl(layout.bin / "kubectl", layout.admin_kubeconfig)

    # --- state ---

    def pid(self, name: str) -> int | None:
        try:
            pid = int((self.layout.pids / f"{name}.pid").read_text())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def running(self) -> list[str]:
        return [name for name in DAEMONS if self.pid(name)]

    # --- up ---

    def up(self, *, image_tag: str | None = None) -> float:
        """Start the node and wait until it runs pods and resolves names; returns seconds."""
        started = time.monotonic()
        if self.running():
            raise StackError(f"a node is already up ({', '.join(self.running())}); "
                             "`make kube-down` stops it")  # fmt: skip
        state = self.layout.state
        if (state / BASELINE).is_file():
            # A run that was killed left the host changed: put it back before recording it.
            self.down()
        for point in host.mounts_under([state, self.layout.run]):
            subprocess.run(["umount", "-l", point], capture_output=True)
        preflight(self.layout)
        for fresh in ("etcd", "kubelet", "pki", "cni", "log"):
            shutil.rmtree(state / fresh, ignore_errors=True)
        state.mkdir(parents=True, exist_ok=True)
        (state / BASELINE).write_text(host.snapshot().to_json())
        try:
            self._start(image_tag)
        except BaseException:
            self.down()
            raise
        return time.monotonic() - started

    def _daemon(self, name: str, argv: list[str]) -> Child:
        return Child(
            name, argv,
            log_path=self.layout.logs / f"{name}.log",
            pid_path=self.layout.pids / f"{name}.pid",
            die_with_parent=False,
        ).start()  # fmt: skip

    def _start(self, image_tag: str | None) -> None:
        layout, b, k = self.layout, self.layout.binary, self.layout.pki
        pki.create(layout)
        configs.write_all(layout)
        containerd = self._daemon(
            "containerd", ["containerd", "--config", str(layout.config / "containerd.toml")]
        )
        wait_until(layout.containerd_socket.exists, what="containerd", timeout_s=30,
                   child=containerd)  # fmt: skip
        store = images.ImageStore(layout)
        images.load_node_images(layout, store)
        if image_tag:
            images.load_service_images(layout, store, image_tag)
        etcd = self._daemon("etcd", [
            str(etcd_binary()), "--name", NODE_NAME, "--data-dir", str(layout.state / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{PORTS['etcd']}",
            "--advertise-client-urls", f"http://127.0.0.1:{PORTS['etcd']}",
            "--listen-peer-urls", f"http://127.0.0.1:{PORTS['etcd peer']}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{PORTS['etcd peer']}",
            "--initial-cluster", f"{NODE_NAME}=http://127.0.0.1:{PORTS['etcd peer']}",
        ])  # fmt: skip
        apiserver = self._daemon("kube-apiserver", [
            str(b("kube-apiserver")),
            "--etcd-servers", f"http://127.0.0.1:{PORTS['etcd']}",
            "--bind-address", layout.node_ip, "--advertise-address", layout.node_ip,
            "--secure-port", str(PORTS["kube-apiserver"]),
            "--tls-cert-file", f"{k}/apiserver.crt", "--tls-private-key-file", f"{k}/apiserver.key",
            "--client-ca-file", f"{k}/ca.crt",
            "--kubelet-client-certificate", f"{k}/admin.crt",
            "--kubelet-client-key", f"{k}/admin.key",
            "--kubelet-preferred-address-types", "InternalIP",
            "--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
            "--service-account-issuer", "https://kubernetes.default.svc",
            "--service-account-key-file", f"{k}/sa.pub",
            "--service-account-signing-key-file", f"{k}/sa.key",
            "--service-cluster-ip-range", SERVICE_CIDR, "--allow-privileged=true",
        ])  # fmt: skip
        wait_until(self.kubectl.answers, what="kube-apiserver", timeout_s=120, child=apiserver)
        if not etcd.running:
            raise etcd.exited_error()
        self._daemon("kube-controller-manager", [
            str(b("kube-controller-manager")),
            "--kubeconfig", f"{k}/kube-controller-manager.kubeconfig",
            "--authentication-kubeconfig", f"{k}/kube-controller-manager.kubeconfig",
            "--authorization-kubeconfig", f"{k}/kube-controller-manager.kubeconfig",
            "--bind-address", "127.0.0.1", "--secure-port", str(PORTS["kube-controller-manager"]),
            "--service-account-private-key-file", f"{k}/sa.key", "--root-ca-file", f"{k}/ca.crt",
            "--use-service-account-credentials",
            "--cluster-signing-cert-file", f"{k}/ca.crt",
            "--cluster-signing-key-file", f"{k}/ca.key",
            "--service-cluster-ip-range", SERVICE_CIDR,
            "--controllers", "*,-cloud-node-lifecycle",
        ])  # fmt: skip
        self._daemon("kube-scheduler", [
            str(b("kube-scheduler")), "--kubeconfig", f"{k}/kube-scheduler.kubeconfig",
            "--authentication-kubeconfig", f"{k}/kube-scheduler.kubeconfig",
            "--authorization-kubeconfig", f"{k}/kube-scheduler.kubeconfig",
            "--bind-address", "127.0.0.1", "--secure-port", str(PORTS["kube-scheduler"]),
        ])  # fmt: skip
        kubelet = self._daemon("kubelet", [
            str(b("kubelet")), "--config", str(layout.config / "kubelet.yaml"),
            "--kubeconfig", f"{k}/kubelet.kubeconfig", "--root-dir", str(layout.state / "kubelet"),
            "--hostname-override", NODE_NAME, "--node-ip", layout.node_ip,
        ])  # fmt: skip
        self._daemon("kube-proxy", [
            str(b("kube-proxy")), "--config", str(layout.config / "kube-proxy.yaml"),
        ])  # fmt: skip
        wait_until(self._node_ready, what=f"node {NODE_NAME} Ready", timeout_s=120, child=kubelet)
        wait_until(self._default_service_account, what="the default ServiceAccount",
                   timeout_s=60)  # fmt: skip
        self.kubectl.apply(dns.objects())
        self.kubectl.run("-n", dns.NAMESPACE, "rollout", "status", "deployment/coredns",
                         "--timeout=120s", timeout=150)  # fmt: skip
        self._check_daemons()

    def _node_ready(self) -> bool:
        result = self.kubectl.run(
            "get", "node", NODE_NAME, "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False,
        )  # fmt: skip
        return result.stdout.strip() == "True"

    def _default_service_account(self) -> bool:
        return self.kubectl.run("get", "serviceaccount", "default", check=False).returncode == 0

    def _check_daemons(self) -> None:
        dead = [name for name in DAEMONS if not self.pid(name)]
        if dead:
            raise StackError(f"{', '.join(dead)} exited; see {self.layout.logs}")

    # --- down ---

    def _stop(self, name: str, timeout_s: float = 20) -> None:
        pid = self.pid(name)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        (self.layout.pids / f"{name}.pid").unlink(missing_ok=True)

    def _shims(self) -> list[int]:
        """Pids of containerd shims serving this node's containerd."""
        address = str(self.layout.containerd_socket).encode()
        found = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    cmdline = (proc / "cmdline").read_bytes()
                except OSError:
                    continue
                if b"containerd-shim" in cmdline and address in cmdline:
                    found.append(int(proc.name))
        return found

    def _remove_containers(self) -> None:
        """Every task and container containerd still runs for the kubelet."""
        ctr = ["ctr", "--address", str(self.layout.containerd_socket), "--namespace", "k8s.io"]

        def ids(*what: str) -> list[str]:
            result = subprocess.run([*ctr, *what, "ls", "-q"], capture_output=True, text=True)
            return result.stdout.split() if result.returncode == 0 else []

        for task in ids("tasks"):
            subprocess.run([*ctr, "tasks", "kill", "-s", "SIGKILL", task], capture_output=True)
        for task in ids("tasks"):
            subprocess.run([*ctr, "tasks", "rm", "-f", task], capture_output=True)
        for container in ids("containers"):
            subprocess.run([*ctr, "containers", "rm", container], capture_output=True)

    def down(self) -> list[str]:
        """Stop everything, remove the pods' containers and put the host back; returns what
        still differs from before the node started (empty: the host is as it was found)."""
        layout = self.layout
        for name in reversed(DAEMONS[1:]):
            self._stop(name)
        if (layout.bin / "kube-proxy").is_file():
            subprocess.run([str(layout.bin / "kube-proxy"), "--cleanup"], capture_output=True)
        if not self.pid("containerd") and self._shims():
            # containerd died but its shims still run containers: it has to remove them.
            containerd = self._daemon(
                "containerd", ["containerd", "--config", str(layout.config / "containerd.toml")]
            )
            wait_until(layout.containerd_socket.exists, what="containerd", timeout_s=30,
                       child=containerd)  # fmt: skip
        if self.pid("containerd"):
            self._remove_containers()
            self._stop("containerd")
        baseline = layout.state / BASELINE
        if not baseline.is_file():
            return []
        before = host.HostState.from_json(baseline.read_text())
        host.restore(before, [layout.state, layout.run], BRIDGE)
        shutil.rmtree(layout.run, ignore_errors=True)
        left = host.differences(before, host.snapshot())
        if not left:
            baseline.unlink()
        return left
