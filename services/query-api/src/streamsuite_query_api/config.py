"""The query API's settings: the shared DATABASE, LOG and HTTP sections, QUERY_API, and AUTH and
LIMITS (who may call it, how often)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from streamsuite_common import config
from streamsuite_common.auth import AuthSettings, LimitSettings
from streamsuite_common.config import (
    DatabaseSettings,
    HttpSettings,
    LogSettings,
    as_int,
    as_seconds,
    setting,
)
from streamsuite_query_api.cors import as_origin_list

SERVICE = "query-api"
DEFAULTS: Mapping[str, Mapping[str, Any]] = {"HTTP": {"PORT": 8000}}


@dataclasses.dataclass(frozen=True, kw_only=True)
class QueryApiSettings:
    SECTION: ClassVar[str] = "QUERY_API"

    workers: int = setting(
        "WORKERS",
        1,
        parse=as_int(1, 64),
        help="Worker processes serving the API on its one port (about one per CPU core the "
        "pod may use). Each has its own connection pool and stream listener; `LIMITS.*` and "
        "`STREAM_MAX_CLIENTS` are shared out among them; `/metrics` sums them all.",
    )
    pool_size: int = setting(
        "POOL_SIZE",
        10,
        parse=as_int(1, 200),
        help="Most PostgreSQL connections the query API holds per worker (the stream listener "
        "adds one).",
    )
    pool_timeout_s: float = setting(
        "POOL_TIMEOUT_S",
        5.0,
        parse=as_seconds(0.1, 300),
        help="How long a request waits for a free connection before answering 503.",
    )
    statement_timeout_ms: int = setting(
        "STATEMENT_TIMEOUT_MS",
        5000,
        parse=as_int(100, 600_000),
        help="PostgreSQL cancels a query running longer than this (answered with 504).",
    )
    cursor_secret: str = setting(
        "CURSOR_SECRET",
        "",
        secret=True,
        help="Key that signs paging cursors; the same on every replica. Empty: derived from "
        "the database and schema names (detects corrupt cursors, not deliberate forgeries).",
    )
    stream_heartbeat_s: float = setting(
        "STREAM_HEARTBEAT_S",
        15.0,
        parse=as_seconds(0.1, 300),
        help="Seconds between SSE heartbeat comments on `/api/v1/stream` (and re-checks).",
    )
    stream_max_clients: int = setting(
        "STREAM_MAX_CLIENTS",
        100,
        parse=as_int(1, 10_000),
        help="Most concurrent `/api/v1/stream` clients; more are answered 503.",
    )
    cors_origins: tuple[str, ...] = setting(
        "CORS_ORIGINS",
        (),
        parse=as_origin_list,
        help="Browser origins (`scheme://host[:port]`, comma-separated) whose pages may call the "
        "API across origins (CORS: GET and POST with `Authorization`). Empty: no CORS headers, "
        "so browsers allow same-origin calls only.",
    )


# For the configuration reference in the top-level README (devstack.docs).
SECTIONS: tuple[type, ...] = (QueryApiSettings, AuthSettings, LimitSettings)


@dataclasses.dataclass(frozen=True)
class QueryApiConfig:
    database: DatabaseSettings
    log: LogSettings
    http: HttpSettings
    query_api: QueryApiSettings
    auth: AuthSettings
    limits: LimitSettings = dataclasses.field(default_factory=LimitSettings)

    @property
    def cursor_secret(self) -> str:
        if self.query_api.cursor_secret:
            return self.query_api.cursor_secret
        return f"streamsuite:{self.database.dbname}:{self.database.schema}"


def per_worker(cfg: QueryApiConfig) -> QueryApiConfig:
    """One worker's share of the per-pod limits: each worker counts only what it serves, so
    with N workers a client spread over all of them would get N times its limits. Each gets
    1/N (whole numbers rounded down, at least 1), so no client gets more than its limits from
    the pod; a client whose requests all reach one worker (one keep-alive connection) gets 1/N
    of the rate and burst."""
    n = cfg.query_api.workers
    if n == 1:
        return cfg
    limits = cfg.limits
    return dataclasses.replace(
        cfg,
        limits=dataclasses.replace(
            limits,
            rate_per_s=limits.rate_per_s / n,
            burst=max(1, limits.burst // n),
            concurrency=max(1, limits.concurrency // n),
            scan_concurrency=max(1, limits.scan_concurrency // n),
        ),
        query_api=dataclasses.replace(
            cfg.query_api, stream_max_clients=max(1, cfg.query_api.stream_max_clients // n)
        ),
    )


def load(path: str | None, env: Mapping[str, str] | None = None) -> QueryApiConfig:
    return config.load(QueryApiConfig, path, env, defaults=DEFAULTS)


def load_tree(tree: Mapping[str, Any], env: Mapping[str, str]) -> QueryApiConfig:
    """Pure variant for tests: the parsed YAML and the environment in, the config out."""
    return config.load_config(QueryApiConfig, tree, env, defaults=DEFAULTS)
