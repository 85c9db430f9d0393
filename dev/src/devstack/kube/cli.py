"""`devstack kube up|down|status|e2e`: what `make kube-up`, `make kube-down` and `make kube-e2e`
call."""

from __future__ import annotations

import os

from devstack.kube import e2e
from devstack.kube.layout import NODE_NAME, NodeLayout
from devstack.kube.node import DAEMONS, Node


def up() -> int:
    layout = NodeLayout.from_env()
    node = Node(layout)
    print(f"starting the node {NODE_NAME} (state in {layout.state}) ...", flush=True)
    took = node.up(image_tag=os.environ.get("KUBE_IMAGES_TAG") or None)
    print(
        f"node {NODE_NAME} is Ready with cluster DNS ({took:.1f}s); API {layout.api_url}\n"
        f"  export KUBECONFIG={layout.admin_kubeconfig} PATH={layout.bin}:$PATH\n"
        f"  kubectl get pods -A\n"
        f"  logs in {layout.logs}; `make kube-down` stops it and restores the host",
        flush=True,
    )
    return 0


def down() -> int:
    node = Node(NodeLayout.from_env())
    left = node.down()
    if left:
        print("node stopped, but the host still differs: " + "; ".join(left))
        return 1
    print("node stopped; the host is as it was found")
    return 0


def status() -> int:
    node = Node(NodeLayout.from_env())
    running = node.running()
    for name in DAEMONS:
        print(f"  {name:<24} {'running' if name in running else 'stopped'}")
    if running:
        print(node.kubectl.run("get", "pods", "-A", check=False).stdout.rstrip())
    return 0 if len(running) == len(DAEMONS) else 3


def run(action: str, args: list[str]) -> int:
    if action == "up":
        return up()
    if action == "down":
        return down()
    if action == "status":
        return status()
    return e2e.run(args)
