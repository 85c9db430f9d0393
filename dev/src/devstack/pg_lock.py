"""A PostgreSQL data directory left behind by a killed server (kill -9, OOM, a crashed host):
its ``postmaster.pid`` and socket lock files still name the dead postmaster, and PostgreSQL
refuses to start ("lock file already exists") whenever that pid looks alive to it, as a zombie
or a reused pid does. The files are stale once the recorded postmaster is gone and no process
is attached to the shared memory segment it recorded (orphaned backends leave it when they
notice their postmaster died); only then are they removed, so a live server is never touched.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

PROC = Path("/proc")


@dataclasses.dataclass(frozen=True)
class PidFile:
    pid: int
    data_dir: str
    port: int | None
    shmid: int | None


def parse_pid_file(text: str) -> PidFile | None:
    """postmaster.pid: pid, data directory, start time, port, socket directory, listen
    address, "shm key  shmid", status. None when it is not one (half-written)."""
    lines = text.splitlines()
    if len(lines) < 2 or not lines[0].strip().isdigit():
        return None
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
    shm = lines[6].split() if len(lines) > 6 else []
    shmid = int(shm[1]) if len(shm) == 2 and shm[1].isdigit() else None
    return PidFile(int(lines[0]), lines[1].strip(), port, shmid)


def postmaster_alive(pid: int, data_dir: str, proc: Path = PROC) -> bool:
    """The recorded pid is a running (not zombie) process of PostgreSQL on ``data_dir``."""
    try:
        state = (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    if state in ("Z", "X"):
        return False
    # A reused pid belongs to some other program (or another server's data directory).
    return any(arg.endswith(b"postgres") for arg in cmdline[:1]) and data_dir.encode() in cmdline


def attached_processes(shmid: int | None, proc: Path = PROC) -> int:
    """How many processes are attached to System V segment ``shmid`` (0 when it is gone)."""
    if shmid is None:
        return 0
    try:
        rows = (proc / "sysvipc" / "shm").read_text().splitlines()[1:]
    except OSError:
        return 0
    for row in rows:
        fields = row.split()
        if len(fields) > 6 and fields[1] == str(shmid):
            return int(fields[6])
    return 0


def stale_lock(data: Path, proc: Path = PROC) -> PidFile | None:
    """The dead server's pid file, if ``data`` has one and nothing holds it any more."""
    try:
        recorded = parse_pid_file((data / "postmaster.pid").read_text())
    except FileNotFoundError:
        return None
    if recorded is None or postmaster_alive(recorded.pid, str(data), proc):
        return None
    if attached_processes(recorded.shmid, proc) > 0:
        return None
    return recorded


def remove_stale_files(data: Path, sockets: Path, recorded: PidFile) -> list[Path]:
    """Remove the dead server's pid file and its socket (and socket lock) on its port."""
    removed = []
    names = [data / "postmaster.pid"]
    if recorded.port is not None:
        names += [sockets / f".s.PGSQL.{recorded.port}.lock", sockets / f".s.PGSQL.{recorded.port}"]
    for path in names:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed
