"""The query API's config: defaults, its own section, and one-line errors."""

from __future__ import annotations

import pytest

from streamsuite_common.config import ConfigError
from streamsuite_common.record_stream import sse_event
from streamsuite_query_api.config import load_tree, per_worker
from streamsuite_query_api.stream import parse_last_event_id

DB = {"DATABASE": {"HOST": "db", "DBNAME": "streamsuite", "DBUSER": "streamsuite_reader"}}
BASE = {**DB, "AUTH": {"JWT_SECRET": "x" * 32}}


def test_defaults_port_8000_and_bounded_pool():
    cfg = load_tree(BASE, {})
    assert cfg.http.port == 8000
    assert (cfg.query_api.pool_size, cfg.query_api.statement_timeout_ms) == (10, 5000)
    assert cfg.cursor_secret  # derived when not set


def test_environment_overrides_query_api_keys():
    cfg = load_tree(BASE, {"STREAMSUITE_QUERY_API__POOL_SIZE": "3",
                           "STREAMSUITE_QUERY_API__CURSOR_SECRET": "s3"})  # fmt: skip
    assert (cfg.query_api.pool_size, cfg.cursor_secret) == (3, "s3")


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"QUERY_API": {"POOL_SIZE": 0}}, "QUERY_API.POOL_SIZE: must be between 1 and 200"),
        ({"QUERY_API": {"STATEMENT_TIMEOUT_MS": "fast"}}, "QUERY_API.STATEMENT_TIMEOUT_MS"),
        ({"QUERY_API": {"POOLSIZE": 1}}, "QUERY_API.POOLSIZE: unknown key"),
    ],
)
def test_bad_settings_name_the_key(tree, message):
    with pytest.raises(ConfigError, match=message):
        load_tree({**BASE, **tree}, {})


def test_last_event_id_is_a_record_id():
    assert parse_last_event_id(None) is None
    assert parse_last_event_id(" 42 ") == 42
    for bad in ("-1", "abc", "1e3", "9" * 20):
        with pytest.raises(ValueError, match="Last-Event-ID"):
            parse_last_event_id(bad)


def test_sse_event_is_one_record_per_event():
    assert sse_event(7, '{"id":7}') == b'id: 7\nevent: record\ndata: {"id":7}\n\n'


def test_authentication_is_on_unless_switched_off():
    with pytest.raises(ConfigError, match=r"AUTH\.JWT_SECRET: required when AUTH\.MODE is jwt"):
        load_tree(DB, {})
    assert load_tree(DB, {"STREAMSUITE_AUTH__MODE": "none"}).auth.enabled is False
    assert load_tree(BASE, {}).auth.mode == "jwt"


def test_one_worker_by_default_and_its_limits_whole():
    cfg = load_tree(BASE, {})
    assert cfg.query_api.workers == 1
    assert per_worker(cfg) == cfg


def test_each_worker_gets_its_share_of_the_pods_limits():
    # Each worker counts only what it serves: at full limits, a client spread over three
    # workers would get three times its rate, burst and requests in flight.
    tree = {**BASE, "QUERY_API": {"WORKERS": 3, "STREAM_MAX_CLIENTS": 100},
            "LIMITS": {"RATE_PER_S": 30, "BURST": 100, "CONCURRENCY": 16,
                       "SCAN_CONCURRENCY": 2}}  # fmt: skip
    share = per_worker(load_tree(tree, {}))
    limits = share.limits
    assert (limits.rate_per_s, limits.burst, limits.concurrency) == (10, 33, 5)
    assert limits.scan_concurrency == 1  # never 0: a worker still serves a scan
    assert share.query_api.stream_max_clients == 33
    assert (share.query_api.workers, share.query_api.pool_size) == (3, 10)


def test_workers_are_bounded():
    with pytest.raises(ConfigError, match=r"QUERY_API\.WORKERS: must be between 1 and 64"):
        load_tree({**BASE, "QUERY_API": {"WORKERS": 0}}, {})
