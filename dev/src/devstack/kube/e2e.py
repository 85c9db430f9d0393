"""`make kube-e2e`: the chart on the real node, driven by the same end-to-end suite as the
processes and the containers.

1. The local stack in its own state directory (var/kube-e2e), reachable from pods: Kafka with a
   SCRAM-SHA-512 listener on the host's address and the chart's ACLs, PostgreSQL listening
   there too for the pod network.
2. The node (make kube-up) with the four images `make images` built.
3. `helm install` with the chart's external-Kafka and external-PostgreSQL options; every pod
   Ready (the time is printed); the README's port-forward commands, as written.
4. pytest: tests/k8s (helm test, restarts while documents flow, upgrade, uninstall) and
   tests/e2e/test_pipeline.py through the port-forwards and `kubectl cp`.
On any failure: events, `describe` and current and previous logs of every pod. Last, the node
goes down and the host is checked to be as it was found.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from devstack.auth import jwt_secret
from devstack.chartcheck.helm import helm_binary
from devstack.kafka_auth import ScramBroker, chart_acls, kafka_acls
from devstack.kube import release
from devstack.kube.layout import POD_CIDR, NodeLayout
from devstack.kube.node import Node
from devstack.kube.portforward import PortForward, readme_port_forwards
from devstack.postgres import LocalPostgres, provision, role_password
from devstack.procs import StackError
from devstack.settings import StackSettings
from devstack.stack import stack_env
from devstack.testing import free_port
from streamsuite_common.kafka import connect_admin

NAMESPACE = "streamsuite"
RELEASE = "streamsuite"
IMAGE_TAG = os.environ.get("TAG", "dev")
DEFAULT_INSTALL_TIMEOUT_S = 300.0
# The suite, in order: the release as installed, the pipeline, then what changes it.
SUITE = ("tests/k8s/test_install.py", "tests/e2e/test_pipeline.py",
         "tests/k8s/test_restarts.py", "tests/k8s/test_upgrade.py",
         "tests/k8s/test_uninstall.py")  # fmt: skip


def install_timeout_s(env: dict[str, str] | os._Environ[str]) -> float:
    """KUBE_E2E_TIMEOUT_S: seconds for `helm install` and for every pod to be Ready."""
    raw = env.get("KUBE_E2E_TIMEOUT_S", "").strip()
    if not raw:
        return DEFAULT_INSTALL_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise StackError(f"KUBE_E2E_TIMEOUT_S={raw!r} is not a positive number of seconds")
    return value


def say(line: str) -> None:
    print(f"kube-e2e: {line}", flush=True)


@contextlib.contextmanager
def pod_reachable_stack(settings: StackSettings, node_ip: str) -> Iterator[ScramBroker]:
    """Kafka and PostgreSQL of the local stack for pods: the chart's KafkaUsers as SCRAM users
    with their ACLs on a listener at the host's address; PostgreSQL listening there too."""
    acls = chart_acls(settings.root / "helm" / "streamsuite")
    users = {user: secrets.token_urlsafe(18) for user in acls}
    kafka = ScramBroker(settings, free_port(), users, sasl_host=node_ip)
    postgres = LocalPostgres(settings, extra_addresses=(node_ip,), client_networks=(POD_CIDR,))
    try:
        kafka.start()
        postgres.start()
        postgres.wait_ready()
        provision(postgres.endpoint, settings)
        kafka.wait_ready()
        admin = connect_admin(kafka.client_settings)
        try:
            admin.create_acls([a for u, rules in acls.items() for r in rules
                               for a in kafka_acls(u, r)])  # fmt: skip
        finally:
            admin.close()
        settings.env_file.write_text("\n".join(
            f"{k}={v}" for k, v in stack_env(settings, postgres).items()) + "\n")  # fmt: skip
        yield kafka
    finally:
        kafka.stop()
        postgres.stop()


def run(pytest_args: list[str]) -> int:
    base = StackSettings.from_env()
    timeout_s = install_timeout_s(os.environ)
    settings = dataclasses.replace(
        base, var=base.var / "kube-e2e", kafka_port=free_port(), kafka_controller_port=free_port(),
        pg_port=free_port(), database_url=None,
    )  # fmt: skip
    shutil.rmtree(settings.var, ignore_errors=True)
    settings.var.mkdir(parents=True)
    layout = NodeLayout.from_env(base)
    node = Node(layout)
    forwards: list[PortForward] = []
    code = 1
    started = time.monotonic()
    try:
        say(f"local stack for pods in {settings.var} (Kafka SCRAM and PostgreSQL on "
            f"{layout.node_ip}) ...")  # fmt: skip
        with pod_reachable_stack(settings, layout.node_ip) as kafka:
            try:
                code = _on_the_node(settings, layout, node, kafka, forwards, pytest_args, timeout_s)
            except StackError as exc:
                say(f"FAILED: {exc}")
            if code != 0 and node.running():
                # While Kafka and PostgreSQL still run, so the logs show the failure itself.
                print(release.diagnostics(node.kubectl, [NAMESPACE, "kube-system"]), flush=True)
            _summary(settings.var / "report.jsonl", started)
    except StackError as exc:
        say(f"FAILED: {exc}")
    finally:
        for forward in forwards:
            forward.stop()
        left = node.down()
        say("node down; host as found" if not left else
            "node down; NOT restored: " + "; ".join(left))  # fmt: skip
    # A host left changed fails the run too.
    return code or (1 if left else 0)


def _on_the_node(settings: StackSettings, layout: NodeLayout, node: Node, kafka: ScramBroker,
                 forwards: list[PortForward], pytest_args: list[str],
                 timeout_s: float) -> int:  # fmt: skip
    """Node up, release installed, port-forwards up (added to ``forwards``), the suite run."""
    kubectl = node.kubectl
    helm = release.Helm(helm_binary(), kubectl, NAMESPACE, RELEASE)
    say("starting the node ...")
    took = node.up(image_tag=IMAGE_TAG)
    say(f"node Ready, CoreDNS up and images loaded in {took:.1f}s")
    _install(settings, layout, node, helm, kafka, timeout_s)
    forwards += _port_forwards(settings, kubectl.env)
    env = {
        **kubectl.env,
        **_read_env(settings.env_file),
        "HELM": str(helm.binary),
        "STREAMSUITE_E2E_API_URL": "http://127.0.0.1:8000",
        "STREAMSUITE_E2E_WEB_URL": "http://127.0.0.1:8080",
        "STREAMSUITE_E2E_HEALTH_URLS": " ".join(f"http://127.0.0.1:{f.port}" for f in forwards),
        "STREAMSUITE_E2E_INBOX_POD": f"{NAMESPACE}/app.kubernetes.io/component=publisher",
        "STREAMSUITE_K8S_NAMESPACE": NAMESPACE,
        "STREAMSUITE_K8S_RELEASE": RELEASE,
        "STREAMSUITE_K8S_REPORT": str(settings.var / "report.jsonl"),
    }
    say("pytest " + " ".join(SUITE))
    return subprocess.call(
        [sys.executable, "-m", "pytest", *SUITE, "-p", "no:cacheprovider", *pytest_args],
        env=env, cwd=settings.root,
    )  # fmt: skip


def _read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return dict(pairs)


def _install(settings: StackSettings, layout: NodeLayout, node: Node, helm: release.Helm,
             kafka: ScramBroker, timeout_s: float) -> None:  # fmt: skip
    kubectl = node.kubectl
    kubectl.run("create", "namespace", NAMESPACE)
    inbox = layout.volumes / "inbox"
    shutil.rmtree(inbox, ignore_errors=True)
    inbox.mkdir(parents=True)
    os.chown(inbox, 10001, 10001)
    objects = [release.host_volume("streamsuite-e2e-inbox", inbox, "5Gi")]
    objects += [release.secret(NAMESPACE, f"e2e-kafka-{c}", kafka.users[f"streamsuite-{c}"])
                for c in release.KAFKA_CLIENTS]  # fmt: skip
    objects += [release.secret(NAMESPACE, f"e2e-db-{role}", role_password(settings, name))
                for role, name in (("writer", settings.writer_role),
                                   ("reader", settings.reader_role))]  # fmt: skip
    objects.append(release.secret(NAMESPACE, release.AUTH_SECRET, jwt_secret(settings)))
    kubectl.apply(objects)
    values = release.e2e_values(
        kafka_bootstrap=kafka.sasl_bootstrap, pg_host=layout.node_ip, pg_port=settings.pg_port,
        database=settings.database, writer=settings.writer_role, reader=settings.reader_role,
        image_tag=IMAGE_TAG,
    )  # fmt: skip
    extra = [f"--set={item}" for item in os.environ.get("KUBE_E2E_SET", "").split(",") if item]
    say(f"helm install {RELEASE} (namespace {NAMESPACE}) {' '.join(extra)}")
    started = time.monotonic()
    helm.install(settings.root / "helm" / "streamsuite", values, settings.var / "values.yaml",
                 extra, timeout_s=timeout_s)  # fmt: skip
    ready = release.wait_ready(kubectl, NAMESPACE, deployments=4, timeout_s=timeout_s)
    took = time.monotonic() - started
    say(f"helm install -> every pod Ready: {took:.1f}s (pods {ready:.1f}s after the hooks)")
    print(release.pod_table(kubectl, NAMESPACE), flush=True)
    (settings.var / "report.jsonl").open("a").write(
        json.dumps({"what": "helm install -> every pod Ready", "seconds": round(took, 1)}) + "\n"
    )


def _port_forwards(settings: StackSettings, env: dict[str, str]) -> list[PortForward]:
    """The README's two, as written, plus the publisher's and the ingestor's for their health
    and metrics endpoints."""
    commands = readme_port_forwards(settings.root / "README.md")
    if len(commands) != 2:
        raise StackError(f"expected the README's 2 port-forward commands, found {commands}")
    for service, port in (("publisher", 9101), ("ingestor", 9102)):
        commands.append(["kubectl", "-n", NAMESPACE, "port-forward",
                         f"svc/{RELEASE}-{service}", f"{free_port()}:{port}"])  # fmt: skip
    forwards = []
    for argv in commands:
        say("$ " + " ".join(argv) + " &")
        forwards.append(PortForward(argv, env, settings.logs / "port-forward.log").start())
    return forwards


def _summary(report: Path, started: float) -> None:
    say("timings:")
    if report.is_file():
        for line in report.read_text().splitlines():
            item = json.loads(line)
            say(f"  {item['what']}: {item['seconds']}s")
    say(f"  whole run: {time.monotonic() - started:.0f}s")
