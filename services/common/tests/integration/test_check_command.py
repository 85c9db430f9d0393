"""`streamsuite-check`: a bad config or an unreachable dependency is one line and an exit code."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml


def _run(cfg: dict, tmp_path: Path, *args: str, env: dict | None = None):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return subprocess.run(
        [sys.executable, "-m", "streamsuite_common", "--cfg", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def _config(kafka_settings, writer_settings) -> dict:
    return {
        "KAFKA": {"BOOTSTRAP_SERVERS": ",".join(kafka_settings.bootstrap_servers)},
        "DATABASE": {
            "HOST": writer_settings.host,
            "PORT": writer_settings.port,
            "DBNAME": writer_settings.dbname,
            "DBUSER": writer_settings.dbuser,
            "USER_PWD": writer_settings.user_pwd,
        },
    }


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket closes


def test_good_config_reaches_kafka_and_postgres(kafka_settings, writer_settings, tmp_path):
    result = _run(_config(kafka_settings, writer_settings), tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("kafka: ok")
    assert "postgres: ok" in result.stdout
    assert "(PostgreSQL 16." in result.stdout


def test_missing_key_is_one_line_naming_it_and_exit_2(kafka_settings, writer_settings, tmp_path):
    cfg = _config(kafka_settings, writer_settings)
    del cfg["KAFKA"]["BOOTSTRAP_SERVERS"]
    result = _run(cfg, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "KAFKA.BOOTSTRAP_SERVERS: missing" in result.stderr


def test_malformed_bootstrap_address_is_one_line_and_exit_2(
    kafka_settings, writer_settings, tmp_path
):
    cfg = _config(kafka_settings, writer_settings)
    cfg["KAFKA"]["BOOTSTRAP_SERVERS"] = "localhost"
    result = _run(cfg, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "KAFKA.BOOTSTRAP_SERVERS: 'localhost' is not host:port" in result.stderr


def test_unreachable_broker_is_one_line_and_exit_1(kafka_settings, writer_settings, tmp_path):
    cfg = _config(kafka_settings, writer_settings)
    cfg["KAFKA"]["BOOTSTRAP_SERVERS"] = f"127.0.0.1:{_closed_port()}"
    result = _run(cfg, tmp_path, "--only", "kafka", "--timeout", "2")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "no broker reachable within 2s" in result.stderr


def test_unreachable_database_is_one_line_and_exit_1(kafka_settings, writer_settings, tmp_path):
    cfg = _config(kafka_settings, writer_settings)
    cfg["DATABASE"]["PORT"] = _closed_port()
    result = _run(cfg, tmp_path, "--only", "database", "--timeout", "2")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "not reachable within 2s" in result.stderr


def test_environment_overrides_the_file(kafka_settings, writer_settings, tmp_path):
    cfg = _config(kafka_settings, writer_settings)
    cfg["KAFKA"]["BOOTSTRAP_SERVERS"] = "localhost"  # broken in the file, fixed by the env
    bootstrap = ",".join(kafka_settings.bootstrap_servers)
    env = {**os.environ, "STREAMSUITE_KAFKA__BOOTSTRAP_SERVERS": bootstrap}
    result = _run(cfg, tmp_path, "--only", "kafka", env=env)
    assert result.returncode == 0, result.stderr
