"""The local stack's PostgreSQL (a server of the test's own: temp var, free port) starts again
by itself after a kill -9 left its lock files behind."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from devstack.postgres import LocalPostgres
from devstack.settings import StackSettings
from devstack.testing import free_port, wait_for


@pytest.fixture
def var() -> Iterator[Path]:
    # Not under pytest's temp root: another pytest run resets that to 0700, and the server
    # runs as its own user when we are root.
    path = Path(tempfile.mkdtemp(prefix="devstack-pg-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_local_postgres_starts_again_after_kill_9(var):
    settings = dataclasses.replace(
        StackSettings.from_env(),
        var=var,
        pg_port=free_port(),
        database_url=None,
    )
    killed = LocalPostgres(settings)
    again = LocalPostgres(settings)
    killed.start()
    try:
        killed.wait_ready()
        with closing(killed.endpoint.admin_connect()) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        # A session open at the kill: its backend outlives the postmaster for a moment.
        session = killed.endpoint.admin_connect()
        postmaster = int((killed.data / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        wait_for(lambda: not killed.endpoint.answers(), what="the server to be gone")
        session.close()
        assert (killed.data / "postmaster.pid").exists()  # what used to block the restart

        again.start()
        again.wait_ready()
        with closing(again.endpoint.admin_connect()) as conn, conn.cursor() as cur:
            cur.execute("SELECT x FROM kept")
            assert cur.fetchall() == [(42,)]
    finally:
        again.stop()
        killed.stop()
