"""PostgreSQL connection helpers (psycopg2): connection options from settings, connecting with
retries, and a readiness probe."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import psycopg2
import psycopg2.extensions

from streamsuite_common.config import DatabaseSettings
from streamsuite_common.retry import GaveUp, retry_call

# One connection attempt; the start-up timeout bounds the retries around it.
_ATTEMPT_TIMEOUT_S = 5


class DatabaseUnavailable(Exception):
    """The database did not accept a connection within the start-up timeout."""


def connect_kwargs(settings: DatabaseSettings, *, application_name: str) -> dict[str, Any]:
    """psycopg2.connect keyword arguments; keepalives notice a vanished server in seconds."""
    return {
        "host": settings.host,
        "port": settings.port,
        "dbname": settings.dbname,
        "user": settings.dbuser,
        "password": settings.user_pwd or None,
        "sslmode": settings.sslmode,
        "connect_timeout": _ATTEMPT_TIMEOUT_S,
        "application_name": application_name,
        # Unqualified table names resolve to streamsuite's schema (validated as an identifier).
        "options": f"-c search_path={settings.schema}",
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }


def describe(settings: DatabaseSettings) -> str:
    """Where we connect, for messages: ``user@host:port/db`` (never the password)."""
    return f"{settings.dbuser}@{settings.host}:{settings.port}/{settings.dbname}"


# Refusals that will not heal by waiting; psycopg2 gives no SQLSTATE for connect-time errors.
_PERMANENT_REFUSALS = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "does not exist",
    "is not permitted to log in",
)


def is_transient(exc: BaseException) -> bool:
    """True when a failed connect may succeed later (server down or starting), false for
    refusals such as a wrong password or a missing database."""
    message = str(exc)
    return not any(refusal in message for refusal in _PERMANENT_REFUSALS)


def connect(
    settings: DatabaseSettings,
    *,
    application_name: str,
    stop: threading.Event | None = None,
    timeout_s: float | None = None,
) -> psycopg2.extensions.connection:
    """Connect, retrying while the server is unreachable, for the start-up timeout at most."""
    kwargs = connect_kwargs(settings, application_name=application_name)
    timeout = settings.connect_timeout_s if timeout_s is None else timeout_s

    def attempt() -> psycopg2.extensions.connection:
        return psycopg2.connect(**kwargs)

    try:
        return retry_call(
            attempt,
            what=f"postgres {describe(settings)}",
            timeout_s=timeout,
            retry_on=(psycopg2.OperationalError,),
            retryable=is_transient,
            stop=stop,
        )
    except GaveUp as exc:
        reason = str(exc.last_error).strip().splitlines()[0] if exc.last_error else "stopped"
        raise DatabaseUnavailable(
            f"postgres {describe(settings)}: not reachable within {timeout:g}s ({reason})"
        ) from exc
    except psycopg2.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise DatabaseUnavailable(f"postgres {describe(settings)}: {reason}") from exc


class DatabaseProbe:
    """Readiness check: a SQL round trip on a kept connection, rebuilt after a failure."""

    name = "postgres"

    def __init__(self, settings: DatabaseSettings, *, application_name: str):
        self._kwargs = connect_kwargs(settings, application_name=f"{application_name}-probe")
        self._kwargs["connect_timeout"] = 3
        self._conn: psycopg2.extensions.connection | None = None
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg2.connect(**self._kwargs)
                    self._conn.autocommit = True
                with self._conn.cursor() as cur:
                    cur.execute("SET statement_timeout = 3000; SELECT 1")
                    cur.fetchone()
            except psycopg2.Error as exc:
                self.close()
                first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise ConnectionError(f"postgres unreachable: {first_line}") from exc

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg2.Error):  # best effort: it is already broken
                self._conn.close()
            self._conn = None
