"""The web UI's settings: the shared DATABASE, LOG and HTTP sections, WEB, AUTH and LIMITS
(who may read and submit, how often), and KAFKA (needed only when the Submit page is on;
without it the UI is a pure reader of PostgreSQL)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, ClassVar

from streamsuite_common import config
from streamsuite_common.auth import AuthSettings, LimitSettings
from streamsuite_common.config import (
    ConfigError,
    DatabaseSettings,
    HttpSettings,
    KafkaSettings,
    LogSettings,
    as_bool,
    as_int,
    as_seconds,
    as_str,
    setting,
)
from streamsuite_common.kafka import default_transactional_id
from streamsuite_web.origins import as_origin_list, local_origins

SERVICE = "web"
HTTP_PORT = 8080
DEFAULTS: Mapping[str, Mapping[str, Any]] = {"HTTP": {"PORT": HTTP_PORT}}


@dataclasses.dataclass(frozen=True, kw_only=True)
class WebSettings:
    SECTION: ClassVar[str] = "WEB"

    submit_enabled: bool = setting(
        "SUBMIT_ENABLED",
        True,
        parse=as_bool,
        help="Serve the Submit page (paste or upload JSON/YAML, published to Kafka) to callers "
        "with the `submit` scope. Off: the UI only reads PostgreSQL and needs no KAFKA section. "
        "With `AUTH.MODE=none` it stays off unless `WEB.SUBMIT_WITHOUT_AUTH` is true.",
    )
    submit_without_auth: bool = setting(
        "SUBMIT_WITHOUT_AUTH",
        False,
        parse=as_bool,
        help="Serve Submit even with `AUTH.MODE=none`, so anyone who reaches the UI can "
        "publish to Kafka (a trusted network only).",
    )
    page_size: int = setting(
        "PAGE_SIZE", 50, parse=as_int(1, 1000), help="Rows per page of Records and Dead letters."
    )
    pool_size: int = setting(
        "POOL_SIZE",
        8,
        parse=as_int(1, 200),
        help="Most PostgreSQL connections the web UI holds (the live-feed listener adds one).",
    )
    pool_timeout_s: float = setting(
        "POOL_TIMEOUT_S",
        5.0,
        parse=as_seconds(0.1, 300),
        help="How long a page waits for a free database connection before answering 503.",
    )
    statement_timeout_ms: int = setting(
        "STATEMENT_TIMEOUT_MS",
        5000,
        parse=as_int(100, 600_000),
        help="PostgreSQL cancels a query running longer than this (the page answers 503).",
    )
    cursor_secret: str = setting(
        "CURSOR_SECRET",
        "",
        secret=True,
        help="Key that signs paging cursors; the same on every replica. Empty: derived from "
        "the database and schema names.",
    )
    stream_heartbeat_s: float = setting(
        "STREAM_HEARTBEAT_S",
        15.0,
        parse=as_seconds(0.1, 300),
        help="Seconds between heartbeats (and re-reads) on the live feed `/events`.",
    )
    stream_max_clients: int = setting(
        "STREAM_MAX_CLIENTS",
        100,
        parse=as_int(1, 10_000),
        help="Most concurrent live-feed clients; more are answered 503 (the page still works).",
    )
    document_max_nodes: int = setting(
        "DOCUMENT_MAX_NODES",
        2000,
        parse=as_int(10, 1_000_000),
        help="A record page shows at most this many values of a document, then links to the "
        "whole raw JSON.",
    )
    string_max_chars: int = setting(
        "STRING_MAX_CHARS",
        2000,
        parse=as_int(10, 10_000_000),
        help="Longer string values are cut on the record page (the raw JSON has them whole).",
    )
    max_submit_bytes: int = setting(
        "MAX_SUBMIT_BYTES",
        4 * 1024 * 1024,
        parse=as_int(1024, 1 << 30),
        help="Largest pasted text or uploaded file the Submit page accepts.",
    )
    max_document_bytes: int = setting(
        "MAX_DOCUMENT_BYTES",
        1_000_000,
        parse=as_int(1, 100_000_000),
        help="Largest document (compact JSON) Submit publishes; as the publisher's setting.",
    )
    max_depth: int = setting(
        "MAX_DEPTH",
        64,
        parse=as_int(1, 10_000),
        help="Deepest nesting a submitted document may have.",
    )
    max_yaml_nodes: int = setting(
        "MAX_YAML_NODES",
        1_000_000,
        parse=as_int(1, 10**9),
        help="Most values a submitted YAML document may expand to (alias bombs stop here).",
    )
    public_origins: tuple[str, ...] = setting(
        "PUBLIC_ORIGINS",
        (),
        parse=as_origin_list,
        help="Origins (`scheme://host[:port]`, comma-separated) the UI is opened at; Submit "
        "refuses a browser post from any other. Empty: `http://127.0.0.1:<HTTP.PORT>`, "
        "`http://localhost:<HTTP.PORT>` and `http://[::1]:<HTTP.PORT>` (the local stack, a "
        "port-forward on the same port). Set it to the Ingress URL behind a proxy.",
    )
    transactional_id: str = setting(
        "TRANSACTIONAL_ID",
        "",
        parse=as_str,
        help="Kafka transactional id of the Submit producer; unique per web process. "
        "Default: `streamsuite-web-<hostname>-<pid>`.",
    )

    @property
    def effective_transactional_id(self) -> str:
        return self.transactional_id or default_transactional_id("web")


# For the configuration reference in the top-level README (devstack.docs).
SECTIONS: tuple[type, ...] = (WebSettings, AuthSettings, LimitSettings)


@dataclasses.dataclass(frozen=True)
class WebConfig:
    database: DatabaseSettings
    log: LogSettings
    http: HttpSettings
    web: WebSettings
    auth: AuthSettings
    kafka: KafkaSettings | None = None  # None: Submit off and no KAFKA section given
    limits: LimitSettings = dataclasses.field(default_factory=LimitSettings)

    @property
    def cursor_secret(self) -> str:
        if self.web.cursor_secret:
            return self.web.cursor_secret
        return f"streamsuite:{self.database.dbname}:{self.database.schema}"

    @property
    def public_origins(self) -> tuple[str, ...]:
        return self.web.public_origins or local_origins(self.http.port)

    @property
    def submit_enabled(self) -> bool:
        return self.submit_wanted(self.web, self.auth) and self.kafka is not None

    @staticmethod
    def submit_wanted(web: WebSettings, auth: AuthSettings) -> bool:
        """Submit publishes to Kafka: never for anonymous callers unless said so explicitly."""
        return web.submit_enabled and (auth.enabled or web.submit_without_auth)


def _kafka_given(tree: Mapping[str, Any], env: Mapping[str, str]) -> bool:
    section = tree.get("KAFKA")
    prefix = config.env_name("KAFKA", "")
    return bool(section) or any(name.startswith(prefix) for name in env)


def load_tree(tree: Mapping[str, Any], env: Mapping[str, str]) -> WebConfig:
    """Pure: the parsed YAML and the environment in, the config out (ConfigError naming the key)."""
    if not isinstance(tree, Mapping):
        raise ConfigError(f"config: expected a mapping of sections, got {type(tree).__name__}")

    def section(cls: type) -> Any:
        return config.load_section(cls, tree, env, DEFAULTS.get(cls.SECTION))

    web = section(WebSettings)
    auth = section(AuthSettings)
    wanted = WebConfig.submit_wanted(web, auth)
    kafka = section(KafkaSettings) if wanted or _kafka_given(tree, env) else None
    return WebConfig(
        database=section(DatabaseSettings),
        log=section(LogSettings),
        http=section(HttpSettings),
        web=web,
        auth=auth,
        kafka=kafka,
        limits=section(LimitSettings),
    )


def load(path: str | None, env: Mapping[str, str] | None = None) -> WebConfig:
    tree = config.read_yaml_file(path) if path else {}
    return load_tree(tree, os.environ if env is None else env)
