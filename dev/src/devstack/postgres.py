"""PostgreSQL for the local stack: the pgserver wheel's PostgreSQL 16 binaries run directly (so
it listens on 127.0.0.1 as well as a socket), or an existing server named by DATABASE_URL.
Either way the database, the writer role and the read-only role are provisioned."""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import signal
import stat
import subprocess
from contextlib import closing
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg2
from psycopg2 import sql

from devstack import pg_lock
from devstack.procs import Child, StackError, require_free_port, wait_until
from devstack.settings import StackSettings

# Postgres refuses to run as root; as root the stack runs it as this system user.
SYSTEM_USER = "streamsuite-pg"
SHARED_BUFFERS = "1GB"  # of 24 GiB here; the chart's PostgreSQL keeps its default (1 GiB limit)


def bin_dir() -> Path:
    # The wheel is only the carrier of the binaries: find it without importing its Python API.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        raise StackError("the pgserver wheel is not installed: run `make venv`")
    return Path(spec.origin).parent / "pginstall" / "bin"


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SYSTEM_USER)


def _let_others_traverse(path: Path) -> None:
    """Add o+x to the directories above ``path`` that lack it (a clone under a 0700 temp dir),
    so the unprivileged server can reach its binaries and data; never read permission."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


class Endpoint:
    """How to reach the server: an admin connection plus what services need."""

    def __init__(self, host: str, port: int, admin_dsn: dict[str, object]):
        self.host = host
        self.port = port
        self.admin_dsn = admin_dsn

    def admin_connect(self, dbname: str | None = None) -> psycopg2.extensions.connection:
        options = dict(self.admin_dsn)
        if dbname:
            options["dbname"] = dbname
        conn = psycopg2.connect(connect_timeout=5, **options)
        conn.autocommit = True
        return conn

    def answers(self) -> bool:
        try:
            with closing(self.admin_connect()) as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone() == (1,)
        except psycopg2.Error:
            return False


class LocalPostgres:
    name = "postgres"

    def __init__(
        self,
        settings: StackSettings,
        *,
        extra_addresses: tuple[str, ...] = (),
        client_networks: tuple[str, ...] = (),
    ):
        """``extra_addresses``: listen there too; ``client_networks``: let clients from these
        CIDRs in with a password (the Kubernetes e2e run's pods)."""
        self.settings = settings
        self.extra_addresses = extra_addresses
        self.client_networks = client_networks
        self.home = settings.var / "postgres"
        self.data = self.home / "data"
        self.sockets = self.home / "run"
        self.child: Child | None = None
        self.endpoint = Endpoint(
            "127.0.0.1",
            settings.pg_port,
            {"host": str(self.sockets), "port": settings.pg_port, "user": "postgres",
             "dbname": "postgres"},
        )  # fmt: skip

    def start(self) -> None:
        # First, as a killed server's processes may hold the port until they have exited.
        self._clear_stale_lock()
        require_free_port(self.settings.pg_port, "PostgreSQL", "DEVSTACK_PG_PORT")
        binaries = bin_dir()
        user = None
        self.sockets.mkdir(parents=True, exist_ok=True)
        if len(str(self.sockets)) > 90:
            raise StackError(f"{self.sockets}: path too long for a Unix socket; set DEVSTACK_VAR")
        if os.geteuid() == 0:
            entry = _ensure_system_user()
            user = SYSTEM_USER
            _let_others_traverse(binaries)
            _let_others_traverse(self.home)
            for path in (self.home, self.sockets, *([self.data] if self.data.exists() else [])):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        if not (self.data / "PG_VERSION").is_file():
            result = subprocess.run(
                [str(binaries / "initdb"), "-D", str(self.data), "-U", "postgres",
                 "--encoding=UTF8", "--no-locale", "--auth-local=trust",
                 "--auth-host=scram-sha-256"],
                user=user, group=user, extra_groups=[] if user else None,
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if result.returncode != 0:
                raise StackError(f"initdb failed: {result.stderr.strip().splitlines()[-1:]}")
        self._allow_client_networks()
        listen = ",".join(("127.0.0.1", *self.extra_addresses))
        self.child = Child(
            self.name,
            [str(binaries / "postgres"), "-D", str(self.data),
             "-c", f"listen_addresses={listen}", "-p", str(self.settings.pg_port),
             "-c", f"unix_socket_directories={self.sockets}",
             "-c", "logging_collector=off", "-c", "max_connections=200",
             # PostgreSQL's 128 MB default holds a tenth of a million-record table: a filter
             # reading a thousand rows spread over it copied them from the page cache each time.
             "-c", f"shared_buffers={SHARED_BUFFERS}"],
            log_path=self.settings.logs / "postgres.log",
            pid_path=self.settings.run / "postgres.pid",
            user=user,
            # SIGINT is PostgreSQL's "fast shutdown": roll back sessions, checkpoint, exit.
            stop_signal=signal.SIGINT,
        ).start()  # fmt: skip

    def _clear_stale_lock(self) -> None:
        """After a kill -9 the dead server's lock files stay and PostgreSQL may refuse to start
        (its pid can look alive: a zombie, a reused pid). Once its backends have left the
        shared memory, remove them (``pg_lock``); a server still running is an error."""
        try:
            recorded = pg_lock.parse_pid_file((self.data / "postmaster.pid").read_text())
        except FileNotFoundError:
            return
        if recorded is None:
            return  # half-written: PostgreSQL judges it itself
        if pg_lock.postmaster_alive(recorded.pid, str(self.data)):
            raise StackError(
                f"PostgreSQL (pid {recorded.pid}) still runs on {self.data}: stop it first"
            )
        wait_until(
            lambda: pg_lock.stale_lock(self.data) is not None,
            what="the killed PostgreSQL's backends to leave its shared memory",
            timeout_s=60,
        )
        pg_lock.remove_stale_files(self.data, self.sockets, recorded)

    def _allow_client_networks(self) -> None:
        hba = self.data / "pg_hba.conf"
        lines = hba.read_text().splitlines()
        wanted = [f"host all all {cidr} scram-sha-256" for cidr in self.client_networks]
        missing = [line for line in wanted if line not in lines]
        if missing:
            hba.write_text("\n".join([*lines, *missing, ""]))

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        wait_until(self.endpoint.answers, what="postgres", timeout_s=timeout_s, child=self.child)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(timeout_s=30)


class ExternalPostgres:
    """A server the stack does not run: DATABASE_URL names an admin role on it."""

    name = "postgres (DATABASE_URL)"

    def __init__(self, settings: StackSettings):
        url = urlsplit(settings.database_url or "")
        if url.scheme not in ("postgres", "postgresql") or not url.hostname:
            raise StackError("DATABASE_URL must look like postgresql://user:password@host:port/db")
        self.endpoint = Endpoint(
            url.hostname,
            url.port or 5432,
            {"host": url.hostname, "port": url.port or 5432,
             "user": unquote(url.username or "postgres"),
             "password": unquote(url.password or "") or None,
             "dbname": (url.path or "/postgres").lstrip("/") or "postgres"},
        )  # fmt: skip

    def start(self) -> None:
        pass

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        wait_until(self.endpoint.answers, what="postgres at DATABASE_URL", timeout_s=timeout_s)

    def stop(self) -> None:
        pass


def role_password(settings: StackSettings, role: str) -> str:
    """A per-checkout random password, made once and kept in var/secrets (mode 0600)."""
    path = settings.secrets / f"{role}.password"
    if not path.is_file():
        settings.secrets.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(secrets.token_urlsafe(24) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def provision(endpoint: Endpoint, settings: StackSettings) -> None:
    """Database, writer role (owns the data) and read-only role; safe to run again."""
    writer, reader, database = settings.writer_role, settings.reader_role, settings.database
    with closing(endpoint.admin_connect()) as conn, conn.cursor() as cur:
        for role in (writer, reader):
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            verb = "ALTER" if cur.fetchone() else "CREATE"
            cur.execute(
                sql.SQL("{} ROLE {} LOGIN PASSWORD %s").format(sql.SQL(verb), sql.Identifier(role)),
                (role_password(settings, role),),
            )
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if cur.fetchone() is None:
            cur.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(writer)
                )
            )
        # Even a mistaken write by the reader fails: its sessions start read-only.
        cur.execute(
            sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(
                sql.Identifier(reader)
            )
        )
    with closing(endpoint.admin_connect(database)) as conn, conn.cursor() as cur:
        ids = {"db": sql.Identifier(database), "w": sql.Identifier(writer),
               "r": sql.Identifier(reader)}  # fmt: skip
        for statement in (
            "REVOKE ALL ON DATABASE {db} FROM PUBLIC",
            "GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {w}",
            "GRANT CONNECT ON DATABASE {db} TO {r}",
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
            "GRANT USAGE, CREATE ON SCHEMA public TO {w}",
            "GRANT USAGE ON SCHEMA public TO {r}",
            # Whatever the writer creates from now on, the reader may read and nothing more.
            "ALTER DEFAULT PRIVILEGES FOR ROLE {w} GRANT SELECT ON TABLES TO {r}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {w} GRANT SELECT ON SEQUENCES TO {r}",
        ):
            cur.execute(sql.SQL(statement).format(**ids))
