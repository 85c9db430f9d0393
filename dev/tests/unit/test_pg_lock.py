"""Which PostgreSQL lock files are stale, judged from a /proc tree written by the test."""

from __future__ import annotations

from pathlib import Path

from devstack.pg_lock import parse_pid_file, remove_stale_files, stale_lock

DATA = "/var/pg/data"
PID_FILE = (
    f"4242\n{DATA}\n1796163323\n5432\n/var/pg/run\n127.0.0.1\n 10495262     65572\nready   \n"
)
SHM_HEADER = "       key      shmid perms   size  cpid  lpid nattch   uid\n"


def _proc(tmp_path: Path, *, state: str | None, cmdline: str = "", nattch: int = 0) -> Path:
    proc = tmp_path / "proc"
    (proc / "sysvipc").mkdir(parents=True)
    (proc / "sysvipc" / "shm").write_text(
        SHM_HEADER + f"  10495262      65572   600   56  4242  4243 {nattch:6d}   999\n"
    )
    if state is not None:
        (proc / "4242").mkdir()
        (proc / "4242" / "stat").write_text(f"4242 (postgres) {state} 1 4242\n")
        (proc / "4242" / "cmdline").write_bytes(cmdline.replace(" ", "\0").encode())
    return proc


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "postmaster.pid").write_text(PID_FILE.replace(DATA, str(data)))
    return data


def test_the_pid_file_names_pid_port_and_shared_memory():
    recorded = parse_pid_file(PID_FILE)
    assert (recorded.pid, recorded.data_dir, recorded.port, recorded.shmid) == (
        4242, DATA, 5432, 65572,
    )  # fmt: skip
    assert parse_pid_file("") is None


def test_a_dead_or_zombie_or_reused_pid_without_attached_backends_is_stale(tmp_path):
    data = _data(tmp_path)
    for n, (state, cmdline) in enumerate(
        [(None, ""), ("Z", f"/pg/bin/postgres -D {data}"), ("S", "/usr/bin/python3 app.py")]
    ):
        assert stale_lock(data, _proc(tmp_path / str(n), state=state, cmdline=cmdline)), state


def test_a_running_server_or_attached_backends_keep_the_lock(tmp_path):
    data = _data(tmp_path)
    running = _proc(tmp_path / "a", state="S", cmdline=f"/pg/bin/postgres -D {data}")
    assert stale_lock(data, running) is None
    orphans = _proc(tmp_path / "b", state=None, nattch=2)
    assert stale_lock(data, orphans) is None


def test_the_stale_files_are_removed(tmp_path):
    data, sockets = _data(tmp_path), tmp_path / "run"
    sockets.mkdir()
    for name in (".s.PGSQL.5432", ".s.PGSQL.5432.lock", ".s.PGSQL.5433.lock"):
        (sockets / name).write_text("")
    removed = remove_stale_files(data, sockets, parse_pid_file(PID_FILE))
    assert sorted(p.name for p in removed) == [".s.PGSQL.5432", ".s.PGSQL.5432.lock",
                                               "postmaster.pid"]  # fmt: skip
    assert [p.name for p in sockets.iterdir()] == [".s.PGSQL.5433.lock"]
