"""Settings: the YAML file given by ``--cfg``, overridden key by key from the environment.

A setting lives in a section (``KAFKA``, ``DATABASE``, ``LOG``, ``HTTP``, or a service's own)
under an upper-case key, as in the original config files. Where its value comes from, first
match wins:

1. ``STREAMSUITE_<SECTION>__<KEY>``: the value itself, e.g. ``STREAMSUITE_KAFKA__TOPIC``;
2. ``STREAMSUITE_<SECTION>__<KEY>_FILE``: a file holding the value (mounted secrets);
3. ``<SECTION>.<KEY>`` in the YAML file;
4. ``<SECTION>.<KEY>_FILE`` in the YAML file;
5. the default; a setting without one must be given.

Loading is pure (``load_config`` takes the parsed YAML and the environment) and fails with a
``ConfigError`` whose message is one line naming the key; ``main_guard`` turns it into exit
code 2 for the command lines.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import sys
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

ENV_PREFIX = "STREAMSUITE_"
EXIT_CONFIG = 2

_REQUIRED = object()
T = TypeVar("T")


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line that names it."""


@dataclasses.dataclass(frozen=True)
class Spec:
    """How one setting is read, checked and documented."""

    key: str
    parse: Callable[[Any], Any]
    help: str
    secret: bool = False
    default: Any = _REQUIRED

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


def setting(
    key: str,
    default: Any = _REQUIRED,
    *,
    help: str,
    parse: Callable[[Any], Any] | None = None,
    secret: bool = False,
) -> Any:
    """Declare a dataclass field as a setting under ``key``."""
    spec = Spec(key=key, parse=parse or as_str, help=help, secret=secret, default=default)
    if default is _REQUIRED:
        return dataclasses.field(metadata={"spec": spec})
    return dataclasses.field(default=default, metadata={"spec": spec})


# --- value parsers: each takes what YAML or the environment gave and returns the typed value ---


def as_str(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ValueError("expected a single value, not a list or mapping")
    return str(value).strip()


def as_nonempty_str(value: Any) -> str:
    text = as_str(value)
    if not text:
        raise ValueError("must not be empty")
    return text


def as_int(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"expected a whole number, got {value!r}")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(f"expected a whole number, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}, got {number}")
        return number

    return parse


def as_seconds(low: float, high: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise ValueError(f"expected a number of seconds, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low:g} and {high:g} seconds, got {number:g}")
        return number

    return parse


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def one_of(*choices: str, case: Callable[[str], str] = str.lower) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = case(as_str(value))
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}; got {value!r}")
        return text

    return parse


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


_HOST = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)$")


def as_host_port_list(value: Any) -> tuple[str, ...]:
    """``host:port[,host:port…]`` (or a YAML list of them) into a tuple of addresses."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    addresses = tuple(str(item).strip() for item in items if str(item).strip())
    if not addresses:
        raise ValueError("expected host:port[,host:port...], got nothing")
    for address in addresses:
        host, sep, port = address.rpartition(":")
        if (
            not sep
            or not _HOST.fullmatch(host)
            or not _is_number(port)
            or not 0 < int(port) < 65536
        ):
            raise ValueError(f"{address!r} is not host:port (port 1-65535)")
    return addresses


_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def as_topic(value: Any) -> str:
    name = as_str(value)
    if not _TOPIC.fullmatch(name) or name in {".", ".."}:
        raise ValueError(f"{name!r} is not a Kafka topic name (letters, digits, '.', '_', '-')")
    return name


def as_optional_topic(value: Any) -> str:
    """A topic name, or empty (the setting's default applies)."""
    return as_topic(value) if as_str(value) else ""


_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def as_identifier(value: Any) -> str:
    name = as_str(value)
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a lower-case SQL identifier (a-z, 0-9, _; 63 at most)")
    return name


# --- sections shared by every service ---


@dataclasses.dataclass(frozen=True, kw_only=True)
class KafkaSettings:
    SECTION: ClassVar[str] = "KAFKA"

    bootstrap_servers: tuple[str, ...] = setting(
        "BOOTSTRAP_SERVERS",
        parse=as_host_port_list,
        help="Kafka brokers to bootstrap from, `host:port[,host:port...]`.",
    )
    topic: str = setting("TOPIC", "records", parse=as_topic, help="Topic the documents travel on.")
    dlq_topic: str = setting(
        "DLQ_TOPIC", "records.dlq", parse=as_topic, help="Topic for dead-letter events."
    )
    status_topic: str = setting(
        "STATUS_TOPIC",
        "",
        parse=as_optional_topic,
        help="Compacted topic where each publisher reports its inbox backlog every 10 s (the "
        "web UI's Status page reads it). Empty: `<TOPIC>.status`.",
    )
    compression: str = setting(
        "COMPRESSION",
        "gzip",
        parse=one_of("gzip", "lz4", "zstd", "none"),
        help="Producer compression: `gzip`, `lz4`, `zstd` or `none`.",
    )
    producer_client_id: str = setting(
        "PRODUCER_CLIENT_ID",
        "streamsuite-producer",
        parse=as_nonempty_str,
        help="Client id producers report to the broker (shows in broker logs and quotas).",
    )
    consumer_client_id: str = setting(
        "CONSUMER_CLIENT_ID",
        "streamsuite-consumer",
        parse=as_nonempty_str,
        help="Client id consumers report to the broker.",
    )
    security_protocol: str = setting(
        "SECURITY_PROTOCOL",
        "PLAINTEXT",
        parse=one_of("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL", case=str.upper),
        help="`PLAINTEXT` locally; `SASL_SSL` with SCRAM on Kubernetes (Strimzi KafkaUser).",
    )
    sasl_mechanism: str = setting(
        "SASL_MECHANISM",
        "SCRAM-SHA-512",
        parse=one_of("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN", case=str.upper),
        help="SASL mechanism when the protocol is `SASL_*`.",
    )
    sasl_username: str = setting("SASL_USERNAME", "", help="SASL user (the KafkaUser name).")
    sasl_password: str = setting(
        "SASL_PASSWORD", "", secret=True, help="SASL password; prefer `..._FILE` or the env."
    )
    ssl_cafile: str = setting(
        "SSL_CAFILE",
        "",
        help="PEM file of the CA that signed the brokers' certificates (`SSL`/`SASL_SSL`).",
    )
    request_timeout_s: float = setting(
        "REQUEST_TIMEOUT_S",
        30.0,
        parse=as_seconds(1, 600),
        help="How long one Kafka request may take.",
    )
    connect_timeout_s: float = setting(
        "CONNECT_TIMEOUT_S",
        30.0,
        parse=as_seconds(0, 3600),
        help="How long to keep retrying the broker at start-up before giving up.",
    )

    @property
    def effective_status_topic(self) -> str:
        return self.status_topic or f"{self.topic}.status"

    def check(self) -> None:
        if self.security_protocol.startswith("SASL_") and not (
            self.sasl_username and self.sasl_password
        ):
            missing = "SASL_USERNAME" if not self.sasl_username else "SASL_PASSWORD"
            raise ConfigError(
                f"KAFKA.{missing}: required when KAFKA.SECURITY_PROTOCOL is "
                f"{self.security_protocol}"
            )
        if self.ssl_cafile and not Path(self.ssl_cafile).is_file():
            raise ConfigError(f"KAFKA.SSL_CAFILE: no such file {self.ssl_cafile!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    SECTION: ClassVar[str] = "DATABASE"

    host: str = setting(
        "HOST", parse=as_nonempty_str, help="PostgreSQL host name, or a Unix socket directory."
    )
    port: int = setting("PORT", 5432, parse=as_int(1, 65535), help="PostgreSQL port.")
    dbname: str = setting("DBNAME", parse=as_nonempty_str, help="Database name.")
    dbuser: str = setting("DBUSER", parse=as_nonempty_str, help="Role to connect as.")
    user_pwd: str = setting(
        "USER_PWD", "", secret=True, help="Password of that role; prefer `..._FILE` or the env."
    )
    schema: str = setting(
        "SCHEMA",
        "streamsuite",
        parse=as_identifier,
        help="Schema that holds streamsuite's tables (tests use one each).",
    )
    sslmode: str = setting(
        "SSLMODE",
        "prefer",
        parse=one_of("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
        help="libpq `sslmode`.",
    )
    connect_timeout_s: float = setting(
        "CONNECT_TIMEOUT_S",
        30.0,
        parse=as_seconds(0, 3600),
        help="How long to keep retrying the database at start-up before giving up.",
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class LogSettings:
    SECTION: ClassVar[str] = "LOG"

    level: str = setting(
        "LEVEL",
        "info",
        parse=one_of("debug", "info", "warning", "error"),
        help="Lowest level logged.",
    )
    format: str = setting(
        "FORMAT",
        "auto",
        parse=one_of("auto", "json", "console"),
        help="`json` lines, `console` for people, or `auto`: console on a TTY, else json.",
    )
    access: str = setting(
        "ACCESS",
        "errors",
        parse=one_of("all", "errors", "none"),
        help="Request log of query-api and web: `all` requests, `errors` (4xx, 5xx and those "
        "slower than 1 s; a line per request costs about a tenth of a fast answer's time), "
        "or `none`. Every request is counted in the metrics either way.",
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class HttpSettings:
    SECTION: ClassVar[str] = "HTTP"

    host: str = setting(
        "HOST",
        "0.0.0.0",  # noqa: S104 - a container's port is reached from outside it
        parse=as_nonempty_str,
        help="Address the HTTP server binds.",
    )
    port: int = setting(
        "PORT",
        8000,
        parse=as_int(0, 65535),
        help="Port of `/healthz`, `/readyz`, `/metrics` (and the API or UI where there is one). "
        "Defaults: publisher 9101, ingestor 9102, query-api 8000, web 8080.",
    )


SHARED_SECTIONS: tuple[type, ...] = (KafkaSettings, DatabaseSettings, LogSettings, HttpSettings)


# --- loading ---


def specs(section: type) -> Iterator[tuple[dataclasses.Field, Spec]]:
    for field in dataclasses.fields(section):
        yield field, field.metadata["spec"]


def env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section}__{key}"


def _read_secret_file(path: str, where: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path!r}: {exc.strerror}") from None


def _raw_value(section: str, spec: Spec, tree: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    name = env_name(section, spec.key)
    if name in env:
        return env[name]
    if f"{name}_FILE" in env:
        return _read_secret_file(env[f"{name}_FILE"], f"{name}_FILE")
    values = tree.get(section) or {}
    if values.get(spec.key) is not None:
        return values[spec.key]
    if values.get(f"{spec.key}_FILE") is not None:
        return _read_secret_file(str(values[f"{spec.key}_FILE"]), f"{section}.{spec.key}_FILE")
    return _REQUIRED


def _check_known_keys(section: type, tree: Mapping[str, Any], env: Mapping[str, str]) -> None:
    """A typo in a key must not pass silently as the default."""
    name = section.SECTION
    known = {spec.key for _, spec in specs(section)}
    known |= {f"{key}_FILE" for key in known}
    values = tree.get(name)
    if values is not None and not isinstance(values, Mapping):
        raise ConfigError(f"{name}: expected a mapping of keys, got {type(values).__name__}")
    given = [(f"{name}.{key}", str(key)) for key in values or {}]
    prefix = f"{ENV_PREFIX}{name}__"
    given += [(var, var[len(prefix) :]) for var in env if var.startswith(prefix)]
    for where, key in given:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{where}: unknown key{hint}")


def load_section(
    section: type[T],
    tree: Mapping[str, Any],
    env: Mapping[str, str],
    defaults: Mapping[str, Any] | None = None,
) -> T:
    """Build one section from the YAML tree and the environment, or raise ConfigError."""
    _check_known_keys(section, tree, env)
    name = section.SECTION
    values: dict[str, Any] = {}
    for field, spec in specs(section):
        raw = _raw_value(name, spec, tree, env)
        if raw is _REQUIRED:
            raw = (defaults or {}).get(spec.key, _REQUIRED)
        if raw is _REQUIRED:
            if spec.required:
                raise ConfigError(
                    f"{name}.{spec.key}: missing (set it in the --cfg file or "
                    f"{env_name(name, spec.key)})"
                )
            values[field.name] = spec.default
            continue
        try:
            values[field.name] = spec.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}.{spec.key}: {exc}") from None
    built = section(**values)
    check = getattr(built, "check", None)
    if check is not None:
        check()
    return built


def load_config(
    config_cls: type[T],
    tree: Mapping[str, Any],
    env: Mapping[str, str],
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> T:
    """Build a service's config, a dataclass whose fields are sections, from data alone.

    ``defaults`` overrides section defaults per service, e.g. ``{"HTTP": {"PORT": 9101}}``.
    """
    if not isinstance(tree, Mapping):
        raise ConfigError(f"config: expected a mapping of sections, got {type(tree).__name__}")
    hints = typing.get_type_hints(config_cls)
    sections = {}
    for field in dataclasses.fields(config_cls):
        section = hints[field.name]
        sections[field.name] = load_section(
            section, tree, env, (defaults or {}).get(section.SECTION)
        )
    return config_cls(**sections)


def read_yaml_file(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    """The ``--cfg`` file's content, or a one-line ConfigError saying why it cannot be used."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--cfg {path}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--cfg {path}: not UTF-8 text") from None
    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"--cfg {path}: not valid YAML{where}") from None
    if tree is None:
        return {}
    if not isinstance(tree, Mapping):
        raise ConfigError(f"--cfg {path}: expected a mapping of sections at the top")
    return tree


def load(
    config_cls: type[T],
    path: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None = None,
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> T:
    """Read ``--cfg`` (optional: every key can come from the environment) and build the config."""
    tree = read_yaml_file(path) if path else {}
    return load_config(config_cls, tree, os.environ if env is None else env, defaults)


@contextmanager
def exit_on_config_error(program: str) -> Iterator[None]:
    """Turn a ConfigError into one line on stderr and exit code 2, never a traceback."""
    try:
        yield
    except ConfigError as exc:
        print(f"{program}: config error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def redacted(config: Any) -> dict[str, Any]:
    """The config as a nested dict with secrets masked, for the start-up log line."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(config):
        section = getattr(config, field.name)
        if section is None:
            continue  # an optional section not given (the web UI's KAFKA with Submit off)
        values = {}
        for sfield, spec in specs(type(section)):
            value = getattr(section, sfield.name)
            values[spec.key] = "***" if spec.secret and value else value
        out[type(section).SECTION] = values
    return out


def reference_rows(sections: tuple[type, ...]) -> list[tuple[str, str, str, str]]:
    """(key, environment variable, default, description) for every setting, for the README."""
    rows = []
    for section in sections:
        for _, spec in specs(section):
            if spec.required:
                default = "required"
            elif isinstance(spec.default, (str, tuple)) and not spec.default:
                default = "empty"
            else:
                default = f"`{spec.default}`"
            help_text = spec.help + (" Secret: also read from `<VAR>_FILE`." if spec.secret else "")
            rows.append(
                (
                    f"`{section.SECTION}.{spec.key}`",
                    f"`{env_name(section.SECTION, spec.key)}`",
                    default,
                    help_text,
                )
            )
    return rows
