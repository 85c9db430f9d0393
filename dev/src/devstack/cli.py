"""``devstack``: the local stack's command line (what ``make up/down/status/logs/test`` call).

devstack up            everything in the foreground, restarting what dies; Ctrl-C stops it
devstack down          stop a stack that `up` runs in another terminal
devstack status        what runs, whether it answers, and how often it was restarted
devstack logs          follow var/log/*.log
devstack run -- CMD    run CMD with Kafka and PostgreSQL up (reusing a running stack)
devstack fetch         download the Kafka jars into the cache only
devstack kube up|down|status|e2e   the single-node Kubernetes cluster (make kube-up, ...)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from types import FrameType

import psycopg2

from devstack import services
from devstack.auth import token_path, write_dev_token
from devstack.kafka import fetch
from devstack.procs import StackError
from devstack.settings import SettingsError, StackSettings
from devstack.stack import Stack, backing_services, http_ok, owner_pid, restarts_path
from devstack.supervisor import read_restarts
from streamsuite_common.pids import pid_alive

EXIT_FAILED = 1


class _Stop(Exception):
    """SIGTERM or SIGINT arrived: unwind and stop what was started."""


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _install_stop_handlers() -> None:
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)


def _api_base(settings: StackSettings) -> str:
    return f"http://127.0.0.1:{settings.service_port(8000)}"


def _banner(settings: StackSettings, started: list[services.ServiceSpec], took_s: float) -> str:
    lines = [
        f"streamsuite local stack is up ({took_s:.1f}s)",
        f"  kafka       {settings.bootstrap}   topics: {settings.topic}, {settings.dlq_topic}, "
        f"{settings.status_topic}",
        f"  postgres    127.0.0.1:{settings.pg_port}/{settings.database}"
        f"   roles: {settings.writer_role}, {settings.reader_role}",
    ]
    if settings.database_url:
        lines[-1] = "  postgres    DATABASE_URL" + f"   database: {settings.database}"
    for spec in started:
        base = f"http://127.0.0.1:{settings.service_port(spec.port)}"
        page = f"{base}{spec.ui_path}   " if spec.ui_path else ""
        lines.append(f"  {spec.name:<11} {page}{base}/healthz {base}/readyz {base}/metrics")
    if not started:
        lines.append("  services    none installed yet")
    if any(spec.auth for spec in started):
        token = write_dev_token(settings)
        lines += [
            f"  dev token   (read+submit, also in {token_path(settings)}):",
            f"              {token}",
            '              curl -H "Authorization: Bearer $(cat '
            f'{token_path(settings)})" {_api_base(settings)}/api/v1/records',
        ]
    lines += [
        f"  inbox       {settings.inbox}  (drop .json/.yaml files here)",
        f"  logs        {settings.logs}  (`make logs`)",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def cmd_up(settings: StackSettings) -> int:
    started_at = time.monotonic()
    stack = Stack(settings)
    _install_stop_handlers()
    try:
        stack.claim()
        print(f"starting Kafka and PostgreSQL (state in {settings.var}) ...", flush=True)
        stack.start_backing()
        started = stack.start_services()
        print(_banner(settings, started, time.monotonic() - started_at), flush=True)
        supervisor = stack.supervisor()
        while True:
            supervisor.tick()
            time.sleep(0.2)
    except _Stop:
        print("\nstopping ...", flush=True)
        return 0
    finally:
        stack.stop()
        print("stopped.", flush=True)


def cmd_down(settings: StackSettings) -> int:
    pid = owner_pid(settings)
    if pid is None:
        print(f"no stack is running in {settings.var}")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 90
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid):
        print(f"devstack (pid {pid}) did not stop within 90s", file=sys.stderr)
        return EXIT_FAILED
    print("stopped.")
    return 0


def cmd_status(settings: StackSettings) -> int:
    owner = owner_pid(settings)
    print(f"stack in {settings.var}: " + (f"running (pid {owner})" if owner else "not running"))
    restarts = read_restarts(restarts_path(settings))
    specs = services.stack_services(settings)
    names = ["kafka", "postgres", *(spec.name for spec in specs if spec.installed)]
    for name in names:
        try:
            pid = int((settings.run / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            pid = None
        state = f"running (pid {pid})" if pid and pid_alive(pid) else "stopped"
        spec = next((s for s in specs if s.name == name), None)
        if spec is not None and pid and pid_alive(pid):
            ready = http_ok(f"http://127.0.0.1:{settings.service_port(spec.port)}/readyz")
            state += ", ready" if ready else ", NOT ready"
        if owner:
            count = restarts.get(name, 0)
            state += f", {count} restart" + ("" if count == 1 else "s")
        print(f"  {name:<11} {state}")
    return 0 if owner else 3


def cmd_logs(settings: StackSettings) -> int:
    logs = sorted(settings.logs.glob("*.log"))
    if not logs:
        print(f"no logs yet in {settings.logs}")
        return 0
    try:
        return subprocess.call(["tail", "-n", "20", "-F", *map(str, logs)])
    except KeyboardInterrupt:
        return 0


def cmd_run(settings: StackSettings, command: list[str], *, with_services: bool) -> int:
    if not command:
        print("devstack run: give the command after --", file=sys.stderr)
        return EXIT_FAILED
    _install_stop_handlers()
    try:
        with backing_services(settings, with_services=with_services) as env:
            return subprocess.call(command, env={**os.environ, **env})
    except _Stop:
        return 130


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "down", "status", "logs", "fetch"):
        sub.add_parser(name)
    run = sub.add_parser("run")
    run.add_argument("--services", action="store_true", help="start the services too")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    kube = sub.add_parser("kube", help="the single-node Kubernetes cluster")
    kube.add_argument("action", choices=["up", "down", "status", "e2e"])
    kube.add_argument("argv", nargs=argparse.REMAINDER, help="e2e: extra pytest arguments")
    args = parser.parse_args(argv)
    try:
        settings = StackSettings.from_env()
        if args.command == "up":
            return cmd_up(settings)
        if args.command == "down":
            return cmd_down(settings)
        if args.command == "status":
            return cmd_status(settings)
        if args.command == "logs":
            return cmd_logs(settings)
        if args.command == "kube":
            from devstack.kube import cli as kube_cli  # only `kube` needs it

            return kube_cli.run(args.action, args.argv)
        if args.command == "fetch":
            print(fetch(settings))
            return 0
        command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        return cmd_run(settings, command, with_services=args.services)
    except (StackError, SettingsError) as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except psycopg2.Error as exc:
        print(f"devstack: postgres: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
