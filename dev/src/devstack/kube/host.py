"""What a node changes on the host, recorded before it starts and put back after it stops:
sysctls (the kubelet and the bridge plugin set some), iptables rules and chains (kubelet,
kube-proxy, the CNI plugins), nf_tables tables created for them, network links and namespaces,
mounts under the node's directories, and the kubelet's cgroups.

``snapshot`` and ``differences`` read; ``restore`` writes. The parsing is pure and unit-tested.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
from collections.abc import Iterable
from pathlib import Path

# The sysctls Kubernetes components and CNI plugins are known to set.
SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv6.conf.all.forwarding",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.ipv4.conf.all.route_localnet",
    "net.netfilter.nf_conntrack_max",
)
IPTABLES = ("iptables", "ip6tables")
CGROUP_ROOT = Path("/sys/fs/cgroup")
KUBELET_CGROUP = "kubepods"


@dataclasses.dataclass
class HostState:
    sysctls: dict[str, str]
    # family -> table -> chain -> rules (as iptables-save prints them, "-A CHAIN ...")
    iptables: dict[str, dict[str, dict[str, list[str]]]]
    nft_tables: list[str]  # "family name"
    links: list[str]
    netns: list[str]
    cgroups: list[str]  # hierarchies that hold a kubepods cgroup

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> HostState:
        return cls(**json.loads(text))


def _run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    return result.stdout if result.returncode == 0 else ""


def parse_iptables_save(text: str) -> dict[str, dict[str, list[str]]]:
    """table -> chain -> rules, from `iptables-save` output."""
    tables: dict[str, dict[str, list[str]]] = {}
    table: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("*"):
            table = tables.setdefault(line[1:].strip(), {})
        elif line.startswith(":"):
            table.setdefault(line[1:].split()[0], [])
        elif line.startswith("-A "):
            table.setdefault(line.split()[1], []).append(line)
    return tables


def iptables_undo(
    before: dict[str, dict[str, list[str]]], now: dict[str, dict[str, list[str]]]
) -> list[list[str]]:
    """The iptables arguments that take ``now`` back to ``before``: delete the rules added to
    chains that existed, then flush and delete the chains that did not."""
    commands: list[list[str]] = []
    for table, chains in now.items():
        old = before.get(table, {})
        for chain, rules in chains.items():
            if chain in old:
                commands += [
                    ["-t", table, "-D", *shlex.split(rule)[1:]]
                    for rule in rules
                    if rule not in old[chain]
                ]
        new = [chain for chain in chains if chain not in old]
        commands += [["-t", table, "-F", chain] for chain in new]
        commands += [["-t", table, "-X", chain] for chain in new]
    return commands


def _links() -> list[str]:
    return sorted(link["ifname"] for link in json.loads(_run("ip", "-j", "link") or "[]"))


def _netns() -> list[str]:
    return sorted(ns["name"] for ns in json.loads(_run("ip", "-j", "netns", "list") or "[]"))


def _nft_tables() -> list[str]:
    listing = json.loads(_run("nft", "-j", "list", "tables") or '{"nftables": []}')
    return sorted(
        f"{item['table']['family']} {item['table']['name']}"
        for item in listing["nftables"]
        if "table" in item
    )


def _cgroups() -> list[str]:
    if not CGROUP_ROOT.is_dir():
        return []
    return sorted(h.name for h in CGROUP_ROOT.iterdir() if (h / KUBELET_CGROUP).is_dir())


def snapshot() -> HostState:
    sysctls = {}
    for key in SYSCTLS:
        value = _run("sysctl", "-n", key).strip()
        if value:
            sysctls[key] = value
    return HostState(
        sysctls=sysctls,
        iptables={cmd: parse_iptables_save(_run(f"{cmd}-save")) for cmd in IPTABLES},
        nft_tables=_nft_tables(),
        links=_links(),
        netns=_netns(),
        cgroups=_cgroups(),
    )


def mounts_under(prefixes: Iterable[Path]) -> list[str]:
    """Mount points below any of ``prefixes``, deepest first (so each unmounts cleanly)."""
    roots = [str(p).rstrip("/") for p in prefixes]
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if any(point == r or point.startswith(r + "/") for r in roots):
            found.append(point)
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def _rmdir_tree(path: Path) -> None:
    """Remove an empty cgroup tree (cgroup directories are removed with rmdir, leaves first)."""
    for child in path.iterdir():
        if child.is_dir():
            _rmdir_tree(child)
    path.rmdir()


def restore(before: HostState, node_dirs: Iterable[Path], bridge: str) -> list[str]:
    """Put the host back as ``before`` recorded it; returns what was done, a line each."""
    done = []
    for point in mounts_under([*node_dirs, Path("/run/netns")]):
        if subprocess.run(["umount", "-l", point], capture_output=True).returncode == 0:
            done.append(f"unmounted {point}")
    for name in _netns():
        if name not in before.netns:
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
            done.append(f"deleted netns {name}")
    for name in _links():
        if name not in before.links and (name == bridge or name.startswith("veth")):
            subprocess.run(["ip", "link", "delete", name], capture_output=True)
            done.append(f"deleted link {name}")
    for cmd in IPTABLES:
        now = parse_iptables_save(_run(f"{cmd}-save"))
        undo = iptables_undo(before.iptables.get(cmd, {}), now)
        for args in undo:
            subprocess.run([cmd, "-w", *args], capture_output=True)
        if undo:
            done.append(f"{cmd}: {len(undo)} rules and chains removed")
    for table in _nft_tables():
        if table not in before.nft_tables:
            subprocess.run(["nft", "delete", "table", *table.split()], capture_output=True)
            done.append(f"deleted nft table {table}")
    for hierarchy in _cgroups():
        if hierarchy not in before.cgroups:
            try:
                _rmdir_tree(CGROUP_ROOT / hierarchy / KUBELET_CGROUP)
                done.append(f"removed cgroup {hierarchy}/{KUBELET_CGROUP}")
            except OSError as exc:
                done.append(f"cgroup {hierarchy}/{KUBELET_CGROUP} left: {exc.strerror}")
    for key, value in before.sysctls.items():
        now_value = _run("sysctl", "-n", key).strip()
        if now_value and now_value != value:
            subprocess.run(["sysctl", "-q", "-w", f"{key}={value}"], capture_output=True)
            done.append(f"sysctl {key} {now_value} -> {value}")
    return done


def differences(before: HostState, after: HostState) -> list[str]:
    """What still differs between two snapshots, a line each (empty: as found)."""
    lines = [
        f"sysctl {k}: {before.sysctls.get(k)} -> {after.sysctls.get(k)}"
        for k in sorted(set(before.sysctls) | set(after.sysctls))
        if before.sysctls.get(k) != after.sysctls.get(k)
    ]
    for cmd in IPTABLES:
        leftover = iptables_undo(before.iptables.get(cmd, {}), after.iptables.get(cmd, {}))
        lines += [f"{cmd} {' '.join(args)}" for args in leftover if "-X" not in args]
    for name, old, new in (
        ("nft table", before.nft_tables, after.nft_tables),
        ("link", before.links, after.links),
        ("netns", before.netns, after.netns),
        ("kubepods cgroup in", before.cgroups, after.cgroups),
    ):
        lines += [f"{name} {item} added" for item in sorted(set(new) - set(old))]
    return lines
