"""The node's certificates, made with openssl on every start: a CA, the apiserver's serving
certificate, one client certificate per component (its name and group are its identity for
RBAC), and the key that signs ServiceAccount tokens. P-256 keys, valid for a week."""

from __future__ import annotations

import subprocess
from pathlib import Path

from devstack.kube.configs import kubeconfig
from devstack.kube.layout import API_SERVICE_IP, CLUSTER_DOMAIN, NODE_NAME, NodeLayout

DAYS = "7"
# Client certificates: file name -> subject (O is the group, CN the user name).
CLIENTS = {
    "admin": "/O=system:masters/CN=streamsuite-admin",
    "kubelet": f"/O=system:nodes/CN=system:node:{NODE_NAME}",
    "kube-controller-manager": "/CN=system:kube-controller-manager",
    "kube-scheduler": "/CN=system:kube-scheduler",
    "kube-proxy": "/CN=system:kube-proxy",
}
KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def apiserver_names(layout: NodeLayout) -> list[str]:
    names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc",
             f"kubernetes.default.svc.{CLUSTER_DOMAIN}", "localhost"]  # fmt: skip
    ips = ["127.0.0.1", API_SERVICE_IP, layout.node_ip]
    return [f"DNS:{n}" for n in names] + [f"IP:{ip}" for ip in ips]


def _signed(pki: Path, name: str, subject: str, extensions: str) -> None:
    (pki / f"{name}.ext").write_text(extensions)
    _openssl("req", *KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject,
             cwd=pki)  # fmt: skip
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", DAYS, "-extfile", f"{name}.ext",
             cwd=pki)  # fmt: skip


def create(layout: NodeLayout) -> None:
    pki = layout.pki
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    _openssl("req", "-x509", *KEY, "-keyout", "ca.key", "-out", "ca.crt", "-days", DAYS,
             "-subj", "/CN=streamsuite-node-ca", cwd=pki)  # fmt: skip
    _signed(pki, "apiserver", "/CN=kube-apiserver",
            f"subjectAltName={','.join(apiserver_names(layout))}\n"
            "extendedKeyUsage=serverAuth\n")  # fmt: skip
    for name, subject in CLIENTS.items():
        _signed(pki, name, subject, "extendedKeyUsage=clientAuth\n")
        (pki / f"{name}.kubeconfig").write_text(kubeconfig(layout, name))
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key", cwd=pki)
    _openssl("ec", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
